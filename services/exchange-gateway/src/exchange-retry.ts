// When HttpExchange tries again, as a pure decision: given what one attempt ended with and how
// much of the call's deadline is left, retry (after how long) or give up as UNKNOWN. Every
// retry reuses the client order id, so the exchange can never take an order twice.
//
//   answer 2xx / 4xx (not 408, 429)       done: the caller reads the answer
//   answer 429                             wait Retry-After (default 1 s), if the deadline allows
//   answer 5xx / 408, connection reset     back off (exponential, jittered), if attempts and
//                                          the deadline allow
//   no answer in time, or caller aborted   UNKNOWN at once: the order may exist; the gateway's
//                                          reconciliation asks get-by-client-order-id later
//
// Giving up is always UNKNOWN (EXCHANGE_TIMEOUT), never "not placed": a 5xx or a reset may come
// after the exchange stored the order.

export type AttemptEnd =
  | { readonly kind: 'answer'; readonly status: number; readonly retryAfterMs?: number }
  /** The connection failed before a complete answer (reset, refused, closed). */
  | { readonly kind: 'reset'; readonly code: string }
  /** No answer within the attempt's time, or the caller aborted. */
  | { readonly kind: 'timeout' };

export type RetryStep =
  | { readonly next: 'done' }
  | { readonly next: 'retry'; readonly waitMs: number; readonly rateLimited: boolean }
  | { readonly next: 'unknown'; readonly why: string };

export interface RetryPolicy {
  /** Attempts per call, the first included. Default 5. */
  readonly maxAttempts: number;
  /** Backoff after the first failure; doubles each time. Default 50 ms. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** 429 without a usable Retry-After. Default 1000 ms. */
  readonly defaultRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 50,
  maxDelayMs: 1000,
  defaultRetryAfterMs: 1000,
};

export interface RetryContext {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Time left of the call's deadline. */
  readonly remainingMs: number;
  readonly policy: RetryPolicy;
  /** [0, 1): jitter. */
  readonly random: () => number;
}

const isRetryableStatus = (status: number) => status >= 500 || status === 408;

export function retryStep(end: AttemptEnd, ctx: RetryContext): RetryStep {
  if (end.kind === 'timeout') return { next: 'unknown', why: 'no answer in time' };
  if (end.kind === 'answer' && end.status === 429) {
    const waitMs = end.retryAfterMs ?? ctx.policy.defaultRetryAfterMs;
    if (waitMs >= ctx.remainingMs) {
      return { next: 'unknown', why: `rate limited for ${waitMs} ms, beyond the deadline` };
    }
    return { next: 'retry', waitMs, rateLimited: true };
  }
  if (end.kind === 'answer' && !isRetryableStatus(end.status)) return { next: 'done' };
  const what = end.kind === 'answer' ? `HTTP ${end.status}` : `connection ${end.code}`;
  if (ctx.attempt >= ctx.policy.maxAttempts) {
    return { next: 'unknown', why: `${what} after ${ctx.attempt} attempts` };
  }
  const backoff = Math.min(
    ctx.policy.maxDelayMs,
    ctx.policy.baseDelayMs * 2 ** Math.max(0, ctx.attempt - 1),
  );
  const waitMs = Math.round(backoff * (0.5 + ctx.random() / 2));
  if (waitMs >= ctx.remainingMs) return { next: 'unknown', why: `${what}, deadline reached` };
  return { next: 'retry', waitMs, rateLimited: false };
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `now`; capped at 60 s. */
export function parseRetryAfter(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  const CAP = 60_000;
  if (/^\d{1,6}$/.test(value)) return Math.min(CAP, Number(value) * 1000);
  const at = Date.parse(value);
  if (!Number.isFinite(at) || !/[A-Za-z]/.test(value)) return undefined;
  return Math.min(CAP, Math.max(0, at - now));
}
