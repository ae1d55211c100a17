// How the simulator fills an order, as pure functions: every fill is at the limit price, and
// `fillRatio` (of the quantity, 0..1) is what the book can take at once. With the kill switch on,
// new orders are rejected and open ones cancelled.
//
//   ratio 1                 FILLED (any time in force)
//   GTC, 0 < ratio < 1      PARTIALLY_FILLED, the rest rests on the book (cancel ends it)
//   GTC, ratio 0            NEW (resting, nothing traded)
//   IOC, 0 < ratio < 1      EXPIRED with the partial fill
//   IOC, ratio 0            EXPIRED, reason IOC_NO_LIQUIDITY
//   FOK, ratio < 1          EXPIRED, reason FOK_NOT_FILLABLE
import { fromScaled, toScaled } from '@countersign/contracts';
import type { ApiOrder, PlaceOrderBody } from '../exchange-api.ts';

const SCALE = 8;
const RATIO_SCALE = 1_000_000n;

/** floor(quantity × ratio) at 8 decimals; "0" when nothing fills. */
export function fillableQuantity(quantity: string, ratio: number): string {
  const r = BigInt(Math.round(Math.min(1, Math.max(0, ratio)) * Number(RATIO_SCALE)));
  return fromScaled((toScaled(quantity, SCALE) * r) / RATIO_SCALE, SCALE);
}

export interface MatchInput {
  readonly body: PlaceOrderBody;
  readonly orderId: string;
  readonly now: number;
  readonly fillRatio: number;
  readonly killSwitch: boolean;
}

export function matchOrder(input: MatchInput): ApiOrder {
  const { body, orderId, now } = input;
  const base = {
    orderId,
    clientOrderId: body.clientOrderId,
    account: body.account,
    symbol: body.symbol,
    side: body.side,
    type: 'limit' as const,
    quantity: body.quantity,
    price: body.price,
    timeInForce: body.timeInForce,
    createdAt: now,
    updatedAt: now,
  };
  const none = { executedQuantity: '0', fills: [] };
  if (input.killSwitch) {
    return { ...base, ...none, status: 'REJECTED', rejectReason: 'TRADING_HALTED' };
  }
  const ratio = body.timeInForce === 'FOK' && input.fillRatio < 1 ? 0 : input.fillRatio;
  const filled = fillableQuantity(body.quantity, ratio);
  const full = filled === fromScaled(toScaled(body.quantity, SCALE), SCALE);
  const traded =
    filled === '0'
      ? none
      : {
          executedQuantity: filled,
          fills: [{ quantity: filled, price: body.price, tradeId: `${orderId}-1` }],
        };
  if (full) return { ...base, ...traded, status: 'FILLED' };
  if (body.timeInForce === 'GTC') {
    return { ...base, ...traded, status: filled === '0' ? 'NEW' : 'PARTIALLY_FILLED' };
  }
  if (filled !== '0') return { ...base, ...traded, status: 'EXPIRED' };
  return {
    ...base,
    ...none,
    status: 'EXPIRED',
    rejectReason: body.timeInForce === 'FOK' ? 'FOK_NOT_FILLABLE' : 'IOC_NO_LIQUIDITY',
  };
}

/** The open remainder is cancelled; what traded stays. */
export function cancelOrder(order: ApiOrder, now: number, reason?: string): ApiOrder {
  return {
    ...order,
    status: 'CANCELED',
    updatedAt: now,
    ...(reason === undefined ? {} : { rejectReason: reason }),
  };
}
