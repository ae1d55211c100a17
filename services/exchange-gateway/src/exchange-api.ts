// The exchange's REST API, in one place: HttpExchange (the client) and the exchange simulator
// (the server) both import it, so the two sides cannot drift. The shape is the common one of
// the large crypto venues: limit orders keyed by a client order id, JSON bodies, every request
// signed with HMAC-SHA256 over timestamp + METHOD + path (with query) + body, and a receive
// window bounding how old a signed request may be.
//
//   POST   /api/v1/orders                         place (a known client order id: 409)
//   GET    /api/v1/orders/by-client-id/{id}       one order (404 when unknown)
//   DELETE /api/v1/orders/by-client-id/{id}       cancel the open remainder
//   GET    /api/v1/orders?from=&to=&cursor=       orders created in [from, to), oldest first, paged
//   GET    /api/v1/time                           server time (unsigned)
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { Identifier, SYMBOL, Sides, TimesInForce, decimalString } from '@countersign/contracts';

export const ExchangePaths = {
  ORDERS: '/api/v1/orders',
  TIME: '/api/v1/time',
  orderByClientId: (clientOrderId: string): string =>
    `/api/v1/orders/by-client-id/${encodeURIComponent(clientOrderId)}`,
} as const;

/** Header names (lower case, as node and undici report them). */
export const AuthHeaders = {
  API_KEY: 'x-cs-apikey',
  TIMESTAMP: 'x-cs-timestamp',
  /** Optional: may only narrow the exchange's own window, so it needs no signature. */
  RECV_WINDOW: 'x-cs-recv-window',
  SIGNATURE: 'x-cs-signature',
} as const;

/** What exchanges accept as a client order id; ours are 34 chars (clientOrderIdOf). */
export const CLIENT_ORDER_ID = /^[A-Za-z0-9_-]{1,36}$/;

/** The exact text that is signed. */
export function signingInput(
  timestamp: string,
  method: string,
  pathWithQuery: string,
  body: string,
): string {
  return `${timestamp}${method.toUpperCase()}${pathWithQuery}${body}`;
}

/** Lower-case hex HMAC-SHA256 of the signing input under the API secret. */
export function signRequest(secret: KeyObject, input: string): string {
  return createHmac('sha256', secret).update(input, 'utf8').digest('hex');
}

/** Constant-time comparison against the expected signature. */
export function signatureMatches(secret: KeyObject, input: string, unverifiedHex: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(unverifiedHex)) return false;
  const expected = createHmac('sha256', secret).update(input, 'utf8').digest();
  return timingSafeEqual(expected, Buffer.from(unverifiedHex, 'hex'));
}

export const OrderStatuses = [
  'NEW',
  'PARTIALLY_FILLED',
  'FILLED',
  'CANCELED',
  'EXPIRED',
  'REJECTED',
] as const;
export type OrderStatus = (typeof OrderStatuses)[number];

const Decimal = decimalString({ intDigits: 12, fracDigits: 8 });
/** A quantity that may be zero (executed so far). */
const DecimalOrZero = z.string().regex(/^(0|[1-9]\d{0,11})(\.\d{1,8})?$/, 'must be a decimal');
const ClientOrderId = z.string().regex(CLIENT_ORDER_ID, 'must be 1-36 of [A-Za-z0-9_-]');

/** What an order is: the place request's fields, echoed in every answer about it. */
const ORDER_FIELDS = {
  clientOrderId: ClientOrderId,
  account: Identifier,
  symbol: z.string().regex(SYMBOL),
  side: z.enum(Sides),
  type: z.literal('limit'),
  quantity: Decimal,
  price: Decimal,
  timeInForce: z.enum(TimesInForce),
};

/** The body of a place-order request. */
export const PlaceOrderBody = z.strictObject(ORDER_FIELDS);
export type PlaceOrderBody = z.infer<typeof PlaceOrderBody>;

// Answers are parsed with z.object (unknown fields dropped): exchanges add fields over time.
export const ApiFill = z.object({
  quantity: Decimal,
  price: Decimal,
  tradeId: z.string().min(1).max(64),
});

export const ApiOrder = z.object({
  orderId: z.string().min(1).max(64),
  ...ORDER_FIELDS,
  status: z.enum(OrderStatuses),
  rejectReason: z.string().max(256).optional(),
  executedQuantity: DecimalOrZero,
  fills: z.array(ApiFill).max(1000),
  createdAt: z.number().int().nonnegative(),
  updatedAt: z.number().int().nonnegative(),
});
export type ApiOrder = z.infer<typeof ApiOrder>;

export const ApiOrderPage = z.object({
  orders: z.array(ApiOrder).max(1000),
  /** Opaque cursor of the next page; absent on the last one. */
  next: z.string().min(1).max(256).optional(),
});
export type ApiOrderPage = z.infer<typeof ApiOrderPage>;

/** Stable codes in error answers. */
export const ApiErrorCodes = {
  INVALID_REQUEST: 'INVALID_REQUEST',
  UNKNOWN_API_KEY: 'UNKNOWN_API_KEY',
  INVALID_SIGNATURE: 'INVALID_SIGNATURE',
  TIMESTAMP_OUTSIDE_RECV_WINDOW: 'TIMESTAMP_OUTSIDE_RECV_WINDOW',
  DUPLICATE_CLIENT_ORDER_ID: 'DUPLICATE_CLIENT_ORDER_ID',
  ORDER_NOT_FOUND: 'ORDER_NOT_FOUND',
  ORDER_NOT_OPEN: 'ORDER_NOT_OPEN',
  RATE_LIMITED: 'RATE_LIMITED',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;
export type ApiErrorCode = (typeof ApiErrorCodes)[keyof typeof ApiErrorCodes];

export const ApiError = z.object({
  code: z.string().max(64),
  message: z.string().max(512).optional(),
});

/** Statuses after which nothing changes any more. */
export function isFinalStatus(status: OrderStatus): boolean {
  return (
    status === 'FILLED' || status === 'CANCELED' || status === 'EXPIRED' || status === 'REJECTED'
  );
}
