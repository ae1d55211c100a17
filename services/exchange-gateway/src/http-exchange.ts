// HttpExchange: the gateway's Exchange port on a venue's REST API (exchange-api.ts). Idempotent
// by client order id: a place() that hits a 5xx, a reset or a 429 is sent again with the same
// id; an id the exchange already has (409) is answered by reading that order back, and only if
// it is the same order (symbol, side, quantity, price, account). No answer in time, or retries
// that run out, raise EXCHANGE_TIMEOUT: the receipt is UNKNOWN and the gateway's reconciliation
// resolves it through getOrder (get by client order id).
//
//   place ──POST──▶ 2xx order ─────────────────────────────▶ settled? ─yes─▶ FILLED / REJECTED
//          │        409 duplicate ──GET──▶ that order ──────▶   │ no (IOC/FOK still matching)
//          │        400 invalid ──────────────────────────────▶ REJECTED (the exchange said no)
//          │        401/403/other 4xx ─────────────────────────▶ EXCHANGE_FAILED (config, not retried)
//          └─ 5xx / reset / 429: again, same body ── deadline ─▶ EXCHANGE_TIMEOUT (UNKNOWN)
//                                          └── GET until settled or the deadline
import type { Clock } from '@countersign/contracts';
import { systemClock } from '@countersign/contracts';
import type { ExchangeCredentials } from './credentials/exchange-credentials.ts';
import { exchangeTimeout, GatewayError } from './errors.ts';
import {
  ApiError,
  ApiErrorCodes,
  ApiOrder,
  ApiOrderPage,
  ExchangePaths,
  type PlaceOrderBody,
} from './exchange-api.ts';
import { orderMismatch, settlementOf } from './exchange-orders.ts';
import {
  createSignedClient,
  realSleep,
  type Answer,
  type ClientStats,
  type SignedClient,
  type Sleep,
} from './http-exchange-client.ts';
import type { RetryPolicy } from './exchange-retry.ts';
import {
  silentLogger,
  type Exchange,
  type ExchangeOrder,
  type ExecResult,
  type ListedOrder,
  type ListOrdersRange,
  type Logger,
} from './ports.ts';

export interface HttpExchangeOptions {
  readonly url: string;
  readonly credentials: ExchangeCredentials;
  readonly clock?: Clock;
  /** One HTTP attempt. Default 2000 ms. */
  readonly requestTimeoutMs?: number;
  /** All attempts of one operation. Default 5000 ms. */
  readonly deadlineMs?: number;
  /** Sent with each request: how old the exchange may consider it still valid. Default 5000. */
  readonly recvWindowMs?: number;
  /** Keep-alive connections. Default 16. */
  readonly connections?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly sleep?: Sleep;
  readonly random?: () => number;
  readonly logger?: Logger;
  /** Pause between reads of an order that is still matching. Default 50 ms. */
  readonly settlePollMs?: number;
  /** Orders per listOrders page. Default 500. */
  readonly listPageSize?: number;
}

export interface HttpExchange extends Exchange {
  /** Cancels the open remainder; the order as it stands after, or undefined when unknown. */
  cancel(clientOrderId: string, signal?: AbortSignal): Promise<ExecResult | undefined>;
  /** Orders the exchange took in [from, to) (epoch ms), oldest first, every page. */
  listOrders(range: ListOrdersRange, signal?: AbortSignal): Promise<ListedOrder[]>;
  stats(): Readonly<ClientStats>;
  close(): Promise<void>;
}

/** listOrders stops here rather than hold an unbounded answer in memory. */
const MAX_LISTED = 200_000;

function bodyFor(order: ExchangeOrder): string {
  const body: PlaceOrderBody = {
    clientOrderId: order.clientOrderId,
    account: order.account,
    symbol: order.txn.symbol,
    side: order.txn.side,
    type: 'limit',
    quantity: order.txn.quantity,
    price: order.txn.limitPrice,
    timeInForce: order.txn.timeInForce,
  };
  return JSON.stringify(body);
}

function apiErrorOf(answer: Answer): { code: string; message?: string } {
  const parsed = ApiError.safeParse(answer.json);
  return parsed.success ? parsed.data : { code: `HTTP_${answer.status}` };
}

const DEFAULT_DEADLINE_MS = 5000;

export function createHttpExchange(options: HttpExchangeOptions): HttpExchange {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const client: SignedClient = createSignedClient({
    url: options.url,
    credentials: options.credentials,
    clock,
    requestTimeoutMs: options.requestTimeoutMs ?? 2000,
    deadlineMs: options.deadlineMs ?? DEFAULT_DEADLINE_MS,
    recvWindowMs: options.recvWindowMs ?? 5000,
    connections: options.connections ?? 16,
    logger,
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.random ? { random: options.random } : {}),
  });
  const sleep: Sleep = options.sleep ?? realSleep;
  const settlePollMs = options.settlePollMs ?? 50;
  const pageSize = options.listPageSize ?? 500;

  const failed = (op: string, clientOrderId: string | undefined, message: string) =>
    new GatewayError('EXCHANGE_FAILED', message, {
      details: { op, ...(clientOrderId ? { clientOrderId } : {}) },
    });

  /** Parses an order answer; anything but a well-formed order is the exchange's failure. */
  function orderFrom(op: string, clientOrderId: string, answer: Answer): ApiOrder {
    const parsed = ApiOrder.safeParse(answer.json);
    if (!parsed.success) {
      throw failed(
        op,
        clientOrderId,
        `exchange ${op} answered HTTP ${answer.status} without a valid order`,
      );
    }
    if (parsed.data.clientOrderId !== clientOrderId) {
      throw failed(
        op,
        clientOrderId,
        `exchange ${op} answered with another order's client order id`,
      );
    }
    return parsed.data;
  }

  function unexpected(op: string, clientOrderId: string | undefined, answer: Answer): GatewayError {
    const e = apiErrorOf(answer);
    return failed(op, clientOrderId, `exchange ${op} refused: HTTP ${answer.status} ${e.code}`);
  }

  async function readOrder(
    clientOrderId: string,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<ApiOrder | undefined> {
    const answer = await client.call({
      op: 'get',
      method: 'GET',
      path: ExchangePaths.orderByClientId(clientOrderId),
      clientOrderId,
      deadline,
      ...(signal ? { signal } : {}),
    });
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw unexpected('get', clientOrderId, answer);
    return orderFrom('get', clientOrderId, answer);
  }

  /** Reads the order again until it is settled (an IOC/FOK still matching), or UNKNOWN. */
  async function settle(
    order: ApiOrder,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<ExecResult> {
    let current = order;
    for (;;) {
      const s = settlementOf(current);
      if (s.settled) return s.result;
      if (clock.now() + settlePollMs >= deadline || signal?.aborted) {
        throw exchangeTimeout(order.clientOrderId);
      }
      await sleep(settlePollMs, signal);
      const again = await readOrder(order.clientOrderId, deadline, signal);
      if (!again)
        throw failed('get', order.clientOrderId, 'the exchange lost an order it had taken');
      current = again;
    }
  }

  function ensureOurs(order: ApiOrder, placed: ExchangeOrder): void {
    const field = orderMismatch(order, placed);
    if (field) {
      throw failed(
        'place',
        placed.clientOrderId,
        `the exchange holds a different order under client order id ${placed.clientOrderId} (${field} differs)`,
      );
    }
  }

  return {
    // No attempt of one place() starts after its deadline: the gateway's lease must outlast it.
    placeDeadlineMs: options.deadlineMs ?? DEFAULT_DEADLINE_MS,
    async place(order, signal) {
      const deadline = client.newDeadline();
      const body = bodyFor(order);
      for (;;) {
        const answer = await client.call({
          op: 'place',
          method: 'POST',
          path: ExchangePaths.ORDERS,
          body,
          clientOrderId: order.clientOrderId,
          deadline,
          ...(signal ? { signal } : {}),
        });
        if (answer.status === 200 || answer.status === 201) {
          const placed = orderFrom('place', order.clientOrderId, answer);
          ensureOurs(placed, order);
          return settle(placed, deadline, signal);
        }
        const err = apiErrorOf(answer);
        if (answer.status === 409 && err.code === ApiErrorCodes.DUPLICATE_CLIENT_ORDER_ID) {
          // An earlier attempt (or an earlier gateway) placed it: that order is the result.
          const existing = await readOrder(order.clientOrderId, deadline, signal);
          if (existing) {
            ensureOurs(existing, order);
            return settle(existing, deadline, signal);
          }
          if (clock.now() >= deadline) throw exchangeTimeout(order.clientOrderId);
          continue; // it vanished between the two calls: place it again (same id)
        }
        if (answer.status === 400) {
          const reason = `${err.code}${err.message ? `: ${err.message}` : ''}`;
          return { status: 'REJECTED', reason };
        }
        throw unexpected('place', order.clientOrderId, answer);
      }
    },

    async getOrder(clientOrderId, signal) {
      const deadline = client.newDeadline();
      const order = await readOrder(clientOrderId, deadline, signal);
      return order ? settle(order, deadline, signal) : undefined;
    },

    async cancel(clientOrderId, signal) {
      const deadline = client.newDeadline();
      const answer = await client.call({
        op: 'cancel',
        method: 'DELETE',
        path: ExchangePaths.orderByClientId(clientOrderId),
        clientOrderId,
        deadline,
        ...(signal ? { signal } : {}),
      });
      if (answer.status === 404) return undefined;
      if (answer.status === 200)
        return settle(orderFrom('cancel', clientOrderId, answer), deadline, signal);
      if (answer.status === 409) {
        const order = await readOrder(clientOrderId, deadline, signal);
        return order ? settle(order, deadline, signal) : undefined;
      }
      throw unexpected('cancel', clientOrderId, answer);
    },

    async listOrders({ from, to }, signal) {
      const out: ListedOrder[] = [];
      let cursor: string | undefined;
      do {
        const query = new URLSearchParams({
          from: String(from),
          to: String(to),
          limit: String(pageSize),
          ...(cursor ? { cursor } : {}),
        });
        const answer = await client.call({
          op: 'list',
          method: 'GET',
          path: `${ExchangePaths.ORDERS}?${query.toString()}`,
          ...(signal ? { signal } : {}),
        });
        if (answer.status !== 200) throw unexpected('list', undefined, answer);
        const page = ApiOrderPage.safeParse(answer.json);
        if (!page.success)
          throw failed('list', undefined, 'exchange list answered without a valid page');
        for (const o of page.data.orders) {
          const s = settlementOf(o);
          out.push({
            clientOrderId: o.clientOrderId,
            account: o.account,
            placedAt: o.createdAt,
            ...(!s.settled
              ? { status: 'PENDING' as const, fills: [] }
              : s.result.status === 'FILLED'
                ? { status: 'FILLED' as const, fills: s.result.fills }
                : { status: 'REJECTED' as const, fills: [], reason: s.result.reason }),
          });
        }
        if (out.length > MAX_LISTED) {
          throw failed(
            'list',
            undefined,
            `more than ${MAX_LISTED} orders in [${from}, ${to}): ask for a shorter range`,
          );
        }
        cursor = page.data.next;
      } while (cursor);
      return out;
    },

    stats: () => client.stats(),
    close: () => client.close(),
  };
}
