// The simulated exchange itself, without HTTP: place / get / cancel / list on the order store,
// a token-bucket rate limit per API key, and the kill switch. Each operation returns the HTTP
// status and JSON body the server sends (the server adds faults around it).
import { randomBytes } from 'node:crypto';
import type { Clock } from '@countersign/contracts';
import { ApiErrorCodes, PlaceOrderBody, type ApiErrorCode } from '../exchange-api.ts';
import { cancelOrder, matchOrder } from './sim-matching.ts';
import type { SimOrderStore } from './sim-orders.ts';

export interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface SimBehaviour {
  /** Added before every answer. */
  readonly latencyMs: number;
  /** Share of each order's quantity that fills at once (0..1); see sim-matching.ts. */
  readonly fillRatio: number;
  /** Requests per second per API key (token bucket, burst = one second's worth); 0 = no limit. */
  readonly rateLimitPerSec: number;
  /** New orders are rejected (TRADING_HALTED) and open ones cancelled. */
  readonly killSwitch: boolean;
}

export const DEFAULT_BEHAVIOUR: SimBehaviour = {
  latencyMs: 0,
  fillRatio: 1,
  rateLimitPerSec: 0,
  killSwitch: false,
};

export interface SimStats {
  requests: number;
  /** Orders created (each client order id once). */
  placed: number;
  /** Place requests for an id that already existed (answered 409). */
  duplicates: number;
  authRejected: number;
  rateLimited: number;
  faults: number;
}

export interface SimEngine {
  /** undefined when admitted; a 429 reply when the key is over its rate. */
  admit(apiKey: string): Reply | undefined;
  place(apiKey: string, unverifiedBody: unknown): Promise<Reply>;
  get(apiKey: string, clientOrderId: string): Reply;
  cancel(apiKey: string, clientOrderId: string): Promise<Reply>;
  list(apiKey: string, query: URLSearchParams): Reply;
  behaviour(): SimBehaviour;
  configure(next: Partial<SimBehaviour>): Promise<void>;
  readonly stats: SimStats;
}

export function apiError(status: number, code: ApiErrorCode, message?: string): Reply {
  return { status, body: { code, ...(message ? { message } : {}) } };
}

const MAX_PAGE = 1000;

export function createSimEngine(options: {
  readonly store: SimOrderStore;
  readonly clock: Clock;
  readonly behaviour?: Partial<SimBehaviour>;
}): SimEngine {
  const { store, clock } = options;
  let behaviour: SimBehaviour = { ...DEFAULT_BEHAVIOUR, ...options.behaviour };
  const buckets = new Map<string, { tokens: number; at: number }>();
  const stats: SimStats = {
    requests: 0,
    placed: 0,
    duplicates: 0,
    authRejected: 0,
    rateLimited: 0,
    faults: 0,
  };

  async function killOpenOrders(): Promise<void> {
    for (const { apiKey, order } of store.open()) {
      await store.update(apiKey, cancelOrder(order, clock.now(), 'TRADING_HALTED'));
    }
  }

  return {
    stats,
    behaviour: () => behaviour,
    async configure(next) {
      behaviour = { ...behaviour, ...next };
      if (next.killSwitch) await killOpenOrders();
    },
    admit(apiKey) {
      const rate = behaviour.rateLimitPerSec;
      if (rate <= 0) return undefined;
      const now = clock.now();
      const b = buckets.get(apiKey) ?? { tokens: rate, at: now };
      b.tokens = Math.min(rate, b.tokens + ((now - b.at) / 1000) * rate);
      b.at = now;
      buckets.set(apiKey, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return undefined;
      }
      stats.rateLimited += 1;
      const retryAfterSec = Math.max(1, Math.ceil((1 - b.tokens) / rate));
      return {
        ...apiError(429, ApiErrorCodes.RATE_LIMITED, `more than ${rate} requests per second`),
        headers: { 'retry-after': String(retryAfterSec) },
      };
    },
    async place(apiKey, unverifiedBody) {
      const parsed = PlaceOrderBody.safeParse(unverifiedBody);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        return apiError(
          400,
          ApiErrorCodes.INVALID_REQUEST,
          first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid order',
        );
      }
      const order = matchOrder({
        body: parsed.data,
        orderId: `O${randomBytes(9).toString('base64url')}`,
        now: clock.now(),
        fillRatio: behaviour.fillRatio,
        killSwitch: behaviour.killSwitch,
      });
      const stored = await store.insertIfAbsent(apiKey, order);
      if (!stored.created) {
        stats.duplicates += 1;
        return apiError(
          409,
          ApiErrorCodes.DUPLICATE_CLIENT_ORDER_ID,
          'an order with this client order id exists',
        );
      }
      stats.placed += 1;
      return { status: 201, body: stored.order };
    },
    get(apiKey, clientOrderId) {
      const order = store.get(apiKey, clientOrderId);
      return order
        ? { status: 200, body: order }
        : apiError(404, ApiErrorCodes.ORDER_NOT_FOUND, 'no order with this client order id');
    },
    async cancel(apiKey, clientOrderId) {
      const order = store.get(apiKey, clientOrderId);
      if (!order) return apiError(404, ApiErrorCodes.ORDER_NOT_FOUND);
      if (order.status !== 'NEW' && order.status !== 'PARTIALLY_FILLED') {
        return apiError(409, ApiErrorCodes.ORDER_NOT_OPEN, `the order is ${order.status}`);
      }
      const cancelled = cancelOrder(order, clock.now());
      await store.update(apiKey, cancelled);
      return { status: 200, body: cancelled };
    },
    list(apiKey, query) {
      const int = (name: string, fallback?: number) => {
        const raw = query.get(name);
        if (raw === null) return fallback;
        return /^\d{1,16}$/.test(raw) ? Number(raw) : undefined;
      };
      const from = int('from');
      const to = int('to');
      const limit = int('limit', 100);
      const cursor = query.get('cursor') ?? undefined;
      if (from === undefined || to === undefined || limit === undefined || limit < 1) {
        return apiError(400, ApiErrorCodes.INVALID_REQUEST, 'from and to (epoch ms) are required');
      }
      const page = store.list(apiKey, {
        from,
        to,
        limit: Math.min(limit, MAX_PAGE),
        ...(cursor ? { cursor } : {}),
      });
      return { status: 200, body: page };
    },
  };
}
