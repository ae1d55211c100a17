// An exchange order as the API answers it, for the unit tests of the mapping and the store.
import type { ApiOrder } from '../exchange-api.ts';

export function apiOrder(over: Partial<ApiOrder> = {}): ApiOrder {
  const id = over.clientOrderId ?? 'cid-1';
  return {
    orderId: `O-${id}`,
    clientOrderId: id,
    account: 'acct-1',
    symbol: 'BTC-USD',
    side: 'buy',
    type: 'limit',
    quantity: '1',
    price: '100',
    timeInForce: 'GTC',
    status: 'FILLED',
    executedQuantity: '1',
    fills: [{ quantity: '1', price: '100', tradeId: `${id}-1` }],
    createdAt: 1,
    updatedAt: 1,
    ...over,
  };
}
