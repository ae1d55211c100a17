import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPaperExchange } from './paper-exchange.ts';
import type { ExchangeOrder } from './ports.ts';

const order = (id: string, over: Partial<ExchangeOrder['txn']> = {}): ExchangeOrder => ({
  clientOrderId: id,
  account: 'a1',
  txn: {
    type: 'order',
    side: 'buy',
    symbol: 'BTC-USD',
    quantity: '2',
    limitPrice: '10.5',
    timeInForce: 'GTC',
    ...over,
  },
});

describe('PaperExchange', () => {
  it('fills GTC fully at the limit price, idempotent by client order id', async () => {
    const ex = createPaperExchange();
    const first = await ex.place(order('o1'));
    expect(first).toEqual({ status: 'FILLED', fills: [{ quantity: '2', price: '10.5' }] });
    ex.rejectIf(() => 'NOPE'); // a second place of the same id returns the first result
    expect(await ex.place(order('o1', { quantity: '9' }))).toEqual(first);
    expect(ex.executions()).toBe(1);
    expect(ex.placeCalls()).toBe(2);
    expect(await ex.getOrder('o1')).toEqual(first);
    expect(await ex.getOrder('o2')).toBeUndefined();
  });

  it('IOC and FOK against limited liquidity', async () => {
    const ex = createPaperExchange({ liquidity: '1.5' });
    expect(await ex.place(order('i', { timeInForce: 'IOC' }))).toEqual({
      status: 'FILLED',
      fills: [{ quantity: '1.5', price: '10.5' }],
    });
    expect(await ex.place(order('f', { timeInForce: 'FOK' }))).toEqual({
      status: 'REJECTED',
      reason: 'FOK_NOT_FILLABLE',
    });
    expect(await ex.place(order('f2', { timeInForce: 'FOK', quantity: '1.5' }))).toMatchObject({
      status: 'FILLED',
    });
    expect(
      await createPaperExchange({ liquidity: '0' }).place(order('z', { timeInForce: 'IOC' })),
    ).toEqual({
      status: 'REJECTED',
      reason: 'IOC_NO_LIQUIDITY',
    });
  });

  it('timeoutOnce: the order is placed, the call reports EXCHANGE_TIMEOUT', async () => {
    const ex = createPaperExchange();
    ex.timeoutOnce('t1');
    await expect(ex.place(order('t1'))).rejects.toMatchObject({ code: 'EXCHANGE_TIMEOUT' });
    expect(await ex.getOrder('t1')).toMatchObject({ status: 'FILLED' });
    expect(await ex.place(order('t1'))).toMatchObject({ status: 'FILLED' });
    expect(ex.executions()).toBe(1);
  });

  it('shares orders between instances on one SQLite file (two processes)', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'paper-')), 'exchange.sqlite');
    const a = createPaperExchange({ path });
    const b = createPaperExchange({ path });
    await a.place(order('x'));
    expect(await b.getOrder('x')).toMatchObject({ status: 'FILLED' });
    b.rejectIf(() => 'LATE');
    expect(await b.place(order('x'))).toMatchObject({ status: 'FILLED' });
    expect(a.executions()).toBe(1);
    await a.close();
    await b.close();
  });
});
