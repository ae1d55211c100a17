import { describe, expect, it } from 'vitest';
import type { PlaceOrderBody } from '../exchange-api.ts';
import { cancelOrder, fillableQuantity, matchOrder } from './sim-matching.ts';

const body = (over: Partial<PlaceOrderBody> = {}): PlaceOrderBody => ({
  clientOrderId: 'cid',
  account: 'acct-1',
  symbol: 'BTC-USD',
  side: 'buy',
  type: 'limit',
  quantity: '0.015',
  price: '64000.10',
  timeInForce: 'GTC',
  ...over,
});
const match = (b: PlaceOrderBody, fillRatio: number, killSwitch = false) =>
  matchOrder({ body: b, orderId: 'O1', now: 5, fillRatio, killSwitch });

describe('simulator matching', () => {
  it('floors the fillable quantity at 8 decimals', () => {
    expect(fillableQuantity('0.015', 0.5)).toBe('0.0075');
    expect(fillableQuantity('0.00000001', 0.5)).toBe('0');
    expect(fillableQuantity('3', 1)).toBe('3');
  });

  it('fills everything at the limit price with ratio 1', () => {
    for (const timeInForce of ['GTC', 'IOC', 'FOK'] as const) {
      expect(match(body({ timeInForce }), 1)).toMatchObject({
        status: 'FILLED',
        executedQuantity: '0.015',
        fills: [{ quantity: '0.015', price: '64000.10' }],
      });
    }
  });

  it('GTC rests the remainder, IOC expires it, FOK rejects the whole order', () => {
    expect(match(body(), 0.5)).toMatchObject({
      status: 'PARTIALLY_FILLED',
      executedQuantity: '0.0075',
    });
    expect(match(body(), 0)).toMatchObject({ status: 'NEW', fills: [] });
    expect(match(body({ timeInForce: 'IOC' }), 0.5)).toMatchObject({
      status: 'EXPIRED',
      fills: [{ quantity: '0.0075' }],
    });
    expect(match(body({ timeInForce: 'IOC' }), 0)).toMatchObject({
      status: 'EXPIRED',
      rejectReason: 'IOC_NO_LIQUIDITY',
    });
    expect(match(body({ timeInForce: 'FOK' }), 0.99)).toMatchObject({
      status: 'EXPIRED',
      fills: [],
      rejectReason: 'FOK_NOT_FILLABLE',
    });
  });

  it('rejects everything while the kill switch is on; a cancel keeps what traded', () => {
    expect(match(body(), 1, true)).toMatchObject({
      status: 'REJECTED',
      rejectReason: 'TRADING_HALTED',
    });
    const partial = match(body(), 0.5);
    expect(cancelOrder(partial, 9)).toMatchObject({
      status: 'CANCELED',
      updatedAt: 9,
      fills: partial.fills,
    });
  });
});
