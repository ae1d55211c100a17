import { describe, expect, it } from 'vitest';
import { apiOrder } from './testing/api-order.ts';
import { MAX_RECEIPT_FILLS, orderMismatch, receiptFills, settlementOf } from './exchange-orders.ts';
import type { ExchangeOrder } from './ports.ts';

const order = apiOrder;
const half = { executedQuantity: '0.5', fills: [{ quantity: '0.5', price: '100', tradeId: 't1' }] };
const none = { executedQuantity: '0', fills: [] };

describe('settlementOf: exchange order → ExecResult', () => {
  it('FILLED is FILLED with every fill', () => {
    expect(settlementOf(order())).toEqual({
      settled: true,
      result: { status: 'FILLED', fills: [{ quantity: '1', price: '100' }] },
    });
  });

  it('an accepted GTC is FILLED with the fills so far, even none (it rests on the book)', () => {
    expect(settlementOf(order({ status: 'PARTIALLY_FILLED', ...half }))).toEqual({
      settled: true,
      result: { status: 'FILLED', fills: [{ quantity: '0.5', price: '100' }] },
    });
    expect(settlementOf(order({ status: 'NEW', ...none }))).toEqual({
      settled: true,
      result: { status: 'FILLED', fills: [] },
    });
  });

  it('an IOC or FOK still matching is not settled', () => {
    expect(settlementOf(order({ timeInForce: 'IOC', status: 'NEW', ...none }))).toEqual({
      settled: false,
    });
    expect(
      settlementOf(order({ timeInForce: 'FOK', status: 'PARTIALLY_FILLED', ...half })),
    ).toEqual({
      settled: false,
    });
  });

  it('an expired IOC with a partial fill is FILLED with that fill; without one it is REJECTED', () => {
    expect(settlementOf(order({ timeInForce: 'IOC', status: 'EXPIRED', ...half }))).toMatchObject({
      result: { status: 'FILLED', fills: [{ quantity: '0.5', price: '100' }] },
    });
    expect(
      settlementOf(
        order({ timeInForce: 'IOC', status: 'EXPIRED', ...none, rejectReason: 'IOC_NO_LIQUIDITY' }),
      ),
    ).toEqual({ settled: true, result: { status: 'REJECTED', reason: 'IOC_NO_LIQUIDITY' } });
    expect(settlementOf(order({ status: 'CANCELED', ...none }))).toMatchObject({
      result: { status: 'REJECTED', reason: 'CANCELED' },
    });
  });

  it('REJECTED carries the exchange reason', () => {
    expect(
      settlementOf(order({ status: 'REJECTED', ...none, rejectReason: 'TRADING_HALTED' })),
    ).toEqual({ settled: true, result: { status: 'REJECTED', reason: 'TRADING_HALTED' } });
    expect(settlementOf(order({ status: 'REJECTED', ...none }))).toMatchObject({
      result: { reason: 'REJECTED' },
    });
  });
});

describe('receiptFills', () => {
  it('sums fills per price (exactly) when there are more than a receipt carries', () => {
    const fills = Array.from({ length: 150 }, (_, i) => ({
      quantity: '0.001',
      price: i % 2 === 0 ? '100' : '100.50',
      tradeId: `t${i}`,
    }));
    expect(receiptFills(order({ fills }))).toEqual([
      { quantity: '0.075', price: '100' },
      { quantity: '0.075', price: '100.50' },
    ]);
  });

  it('refuses an order with fills at more prices than a receipt carries', () => {
    const fills = Array.from({ length: MAX_RECEIPT_FILLS + 1 }, (_, i) => ({
      quantity: '0.001',
      price: String(100 + i),
      tradeId: `t${i}`,
    }));
    expect(() => receiptFills(order({ fills }))).toThrow(
      expect.objectContaining({ code: 'EXCHANGE_FAILED' }),
    );
  });
});

describe('orderMismatch', () => {
  const placed: ExchangeOrder = {
    clientOrderId: 'cid-1',
    account: 'acct-1',
    txn: {
      type: 'order',
      side: 'buy',
      symbol: 'BTC-USD',
      quantity: '1.0',
      limitPrice: '100.00',
      timeInForce: 'GTC',
    },
  };
  it('accepts the same order written differently, names the first field that differs', () => {
    expect(orderMismatch(order(), placed)).toBeUndefined();
    expect(orderMismatch(order({ side: 'sell' }), placed)).toBe('side');
    expect(orderMismatch(order({ quantity: '2' }), placed)).toBe('quantity');
    expect(orderMismatch(order({ price: '100.01' }), placed)).toBe('price');
    expect(orderMismatch(order({ account: 'acct-2' }), placed)).toBe('account');
    expect(orderMismatch(order({ timeInForce: 'IOC' }), placed)).toBe('timeInForce');
  });
});
