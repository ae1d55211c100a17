import { describe, expect, it } from 'vitest';
import { compareDecimals, multiplyDecimals, TransactionRequest } from '@countersign/contracts';
import { DEMO_ACCOUNTS, DEMO_MAX_NOTIONAL, demoOrders } from './workload.ts';

describe('demo workload', () => {
  const orders = demoOrders(2000);

  it('is valid, deterministic and spread across accounts and symbols', () => {
    for (const o of orders) expect(TransactionRequest.safeParse(o.txn).success).toBe(true);
    expect(demoOrders(2000)).toEqual(orders);
    expect(new Set(orders.map((o) => o.account))).toEqual(new Set(DEMO_ACCOUNTS));
    expect(new Set(orders.map((o) => o.txn.symbol)).size).toBe(3);
  });

  it('stays under the demo notional limit', () => {
    for (const o of orders) {
      expect(
        compareDecimals(multiplyDecimals(o.txn.quantity, o.txn.limitPrice), DEMO_MAX_NOTIONAL),
      ).toBe(-1);
    }
  });
});
