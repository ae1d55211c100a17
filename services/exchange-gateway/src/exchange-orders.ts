// How an order at the exchange maps onto the gateway's ExecResult (FILLED with fills, or
// REJECTED with a reason), and the checks that an answer is about the order we placed.
// Shared by HttpExchange and the simulator (which counts its executions the same way).
//
//   status                        timeInForce   ExecResult
//   FILLED                        any           FILLED, every fill
//   PARTIALLY_FILLED / NEW        GTC           FILLED, the fills so far (the rest rests on the book)
//   PARTIALLY_FILLED / NEW        IOC / FOK     not settled yet: ask again (never receipted as is)
//   CANCELED / EXPIRED, fills     any           FILLED, the fills (an IOC's partial fill is real)
//   CANCELED / EXPIRED, no fill   any           REJECTED, the exchange's reason (else the status)
//   REJECTED                      any           REJECTED, the exchange's reason (else REJECTED)
//
// A receipt is issued once per request, when the order is accepted: a resting GTC order's later
// fills are the exchange's record, not countersign's (see the README).
import { addDecimals, compareDecimals } from '@countersign/contracts';
import type { Fill } from '@countersign/contracts';
import { GatewayError } from './errors.ts';
import type { ApiOrder } from './exchange-api.ts';
import type { ExchangeOrder, ExecResult } from './ports.ts';

/** Receipts carry at most this many fills (ReceiptClaims). */
export const MAX_RECEIPT_FILLS = 100;

export type Settlement =
  { readonly settled: true; readonly result: ExecResult } | { readonly settled: false };

/** Fills at one price are summed (exactly) when an order has more than a receipt can carry. */
export function receiptFills(order: ApiOrder): Fill[] {
  const fills = order.fills.map((f) => ({ quantity: f.quantity, price: f.price }));
  if (fills.length <= MAX_RECEIPT_FILLS) return fills;
  const byPrice = new Map<string, string[]>();
  for (const f of fills) {
    const key = [...byPrice.keys()].find((p) => compareDecimals(p, f.price) === 0) ?? f.price;
    byPrice.set(key, [...(byPrice.get(key) ?? []), f.quantity]);
  }
  if (byPrice.size > MAX_RECEIPT_FILLS) {
    throw new GatewayError(
      'EXCHANGE_FAILED',
      `order ${order.clientOrderId} has fills at ${byPrice.size} prices; a receipt carries at most ${MAX_RECEIPT_FILLS}`,
      { details: { clientOrderId: order.clientOrderId } },
    );
  }
  return [...byPrice].map(([price, qs]) => ({ quantity: addDecimals(qs), price }));
}

export function settlementOf(order: ApiOrder): Settlement {
  const fills = receiptFills(order);
  const reason = (fallback: string) =>
    order.rejectReason && order.rejectReason.length > 0 ? order.rejectReason : fallback;
  switch (order.status) {
    case 'FILLED':
      return { settled: true, result: { status: 'FILLED', fills } };
    case 'NEW':
    case 'PARTIALLY_FILLED':
      return order.timeInForce === 'GTC'
        ? { settled: true, result: { status: 'FILLED', fills } }
        : { settled: false };
    case 'CANCELED':
    case 'EXPIRED':
      return fills.length > 0
        ? { settled: true, result: { status: 'FILLED', fills } }
        : { settled: true, result: { status: 'REJECTED', reason: reason(order.status) } };
    case 'REJECTED':
      return { settled: true, result: { status: 'REJECTED', reason: reason('REJECTED') } };
  }
}

/**
 * The fields that make an order ours. A different order under our client order id (a collision,
 * or an exchange bug) must never be receipted as this request's execution.
 */
export function orderMismatch(order: ApiOrder, placed: ExchangeOrder): string | undefined {
  const { txn } = placed;
  if (order.clientOrderId !== placed.clientOrderId) return 'clientOrderId';
  if (order.account !== placed.account) return 'account';
  if (order.symbol !== txn.symbol) return 'symbol';
  if (order.side !== txn.side) return 'side';
  if (order.timeInForce !== txn.timeInForce) return 'timeInForce';
  if (compareDecimals(order.quantity, txn.quantity) !== 0) return 'quantity';
  if (compareDecimals(order.price, txn.limitPrice) !== 0) return 'price';
  return undefined;
}
