// The transport under HttpExchange: signed HTTP calls over a keep-alive undici Pool, each with
// a deadline, retried by the pure rule of exchange-retry.ts. One call = one logical request
// (place, get, cancel, a page of orders); its attempts are re-signed with a fresh timestamp but
// carry the same body (the same client order id). A 429's Retry-After holds back every call of
// this client, not only the one that got it.
//
// Nothing here logs or throws a header: errors carry the path's operation, the attempt count and
// a status or a connection code; undici's own errors are never attached as causes.
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { errorCodeOf, type Clock } from '@countersign/contracts';
import type { ExchangeCredentials } from './credentials/exchange-credentials.ts';
import { exchangeTimeout, GatewayError } from './errors.ts';
import { AuthHeaders, signingInput, signRequest } from './exchange-api.ts';
import {
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  retryStep,
  type AttemptEnd,
  type RetryPolicy,
} from './exchange-retry.ts';
import { silentLogger, type Logger } from './ports.ts';

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Real-time sleep that ends early (without error) when the signal aborts. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export interface SignedClientOptions {
  /** Origin, optionally with a path prefix: `https://api.venue.example/prefix`. */
  readonly url: string;
  readonly credentials: ExchangeCredentials;
  readonly clock: Clock;
  /** One attempt: no answer by then ends the call as UNKNOWN. */
  readonly requestTimeoutMs: number;
  /** All attempts of one call. */
  readonly deadlineMs: number;
  readonly recvWindowMs: number;
  readonly connections: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly sleep?: Sleep;
  readonly random?: () => number;
  readonly logger?: Logger;
  /** Largest answer body read (a broken or hostile exchange cannot fill the memory). */
  readonly maxBodyBytes?: number;
}

export interface Answer {
  readonly status: number;
  /** Parsed JSON, or undefined when the body was empty or not JSON. */
  readonly json: unknown;
}

export interface CallSpec {
  /** For logs and errors: place, get, cancel, list. */
  readonly op: string;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** API path with query (the prefix of `url` is added here). */
  readonly path: string;
  readonly body?: string;
  /** What the call is about (logged; errors carry it). */
  readonly clientOrderId?: string;
  readonly signal?: AbortSignal;
  /** Absolute deadline (clock ms) shared with follow-up calls of the same operation. */
  readonly deadline?: number;
}

export interface ClientStats {
  calls: number;
  attempts: number;
  retries: number;
  rateLimited: number;
  unknown: number;
}

export interface SignedClient {
  /** Runs one call with retries; resolves with the final answer or throws EXCHANGE_TIMEOUT. */
  call(spec: CallSpec): Promise<Answer>;
  /** A deadline `deadlineMs` from now, for operations made of several calls. */
  newDeadline(): number;
  stats(): Readonly<ClientStats>;
  close(): Promise<void>;
}

/** Connection failures: the request may or may not have been processed; retry is safe. */
const RESET_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function errorCode(err: unknown): string {
  return errorCodeOf(err) ?? 'ERROR';
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(res: Dispatcher.ResponseData, max: number): Promise<string> {
  const { body } = res;
  const declared = Number(headerValue(res.headers['content-length']) ?? NaN);
  // A declared length within the limit is read in one go (undici enforces it); otherwise the
  // body is counted chunk by chunk.
  if (Number.isInteger(declared) && declared >= 0 && declared <= max) return body.text();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > max) {
      body.destroy();
      throw new GatewayError('PAYLOAD_TOO_LARGE', `the exchange answered more than ${max} bytes`, {
        details: { maxBytes: max },
      });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function createSignedClient(options: SignedClientOptions): SignedClient {
  const base = new URL(options.url);
  const prefix = base.pathname.replace(/\/+$/, '');
  const pool = new Pool(base.origin, {
    connections: options.connections,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connect: { timeout: Math.min(options.requestTimeoutMs, 10_000) },
    // Backstops only: the per-attempt abort below is the deadline that counts.
    headersTimeout: options.requestTimeoutMs + 1000,
    bodyTimeout: options.requestTimeoutMs + 1000,
  });
  const { clock, credentials } = options;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  const logger = options.logger ?? silentLogger;
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const stats: ClientStats = { calls: 0, attempts: 0, retries: 0, rateLimited: 0, unknown: 0 };
  // Until then, no call starts an attempt (Retry-After of the last 429).
  let holdUntil = 0;

  async function attempt(
    spec: CallSpec,
    timeoutMs: number,
  ): Promise<{ end: AttemptEnd; answer?: Answer }> {
    const path = `${prefix}${spec.path}`;
    const body = spec.body ?? '';
    const timestamp = String(clock.now());
    const headers: Record<string, string> = {
      [AuthHeaders.API_KEY]: credentials.apiKey,
      [AuthHeaders.TIMESTAMP]: timestamp,
      [AuthHeaders.RECV_WINDOW]: String(options.recvWindowMs),
      [AuthHeaders.SIGNATURE]: signRequest(
        credentials.secret,
        signingInput(timestamp, spec.method, path, body),
      ),
      accept: 'application/json',
      ...(spec.body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.max(1, timeoutMs));
    const onCallerAbort = () => abort.abort();
    spec.signal?.addEventListener('abort', onCallerAbort, { once: true });
    stats.attempts += 1;
    try {
      const res = await pool.request({
        origin: base.origin,
        path,
        method: spec.method,
        headers,
        ...(spec.body === undefined ? {} : { body }),
        signal: abort.signal,
      });
      const text = await readBody(res, maxBodyBytes);
      let json: unknown;
      try {
        json = text.length > 0 ? (JSON.parse(text) as unknown) : undefined;
      } catch {
        json = undefined;
      }
      const retryAfterMs =
        res.statusCode === 429
          ? parseRetryAfter(headerValue(res.headers['retry-after']), clock.now())
          : undefined;
      return {
        end: {
          kind: 'answer',
          status: res.statusCode,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        },
        answer: { status: res.statusCode, json },
      };
    } catch (err) {
      if (abort.signal.aborted) return { end: { kind: 'timeout' } };
      const code = errorCode(err);
      if (TIMEOUT_CODES.has(code)) return { end: { kind: 'timeout' } };
      if (RESET_CODES.has(code) || code.startsWith('HPE_') || code === 'PAYLOAD_TOO_LARGE') {
        return { end: { kind: 'reset', code } };
      }
      throw new GatewayError('EXCHANGE_FAILED', `exchange ${spec.op} failed (${code})`, {
        details: {
          op: spec.op,
          code,
          ...(spec.clientOrderId ? { clientOrderId: spec.clientOrderId } : {}),
        },
      });
    } finally {
      clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  return {
    newDeadline: () => clock.now() + options.deadlineMs,
    async call(spec) {
      stats.calls += 1;
      const deadline = spec.deadline ?? clock.now() + options.deadlineMs;
      const giveUp = (why: string, attempts: number) => {
        stats.unknown += 1;
        logger.warn(
          { op: spec.op, clientOrderId: spec.clientOrderId, attempts, why },
          'exchange call gave up: outcome unknown',
        );
        return exchangeTimeout(spec.clientOrderId ?? spec.op);
      };
      for (let n = 1; ; n += 1) {
        const wait = holdUntil - clock.now();
        if (wait > 0) {
          if (wait >= deadline - clock.now())
            throw giveUp('rate limited until after the deadline', n - 1);
          await sleep(wait, spec.signal);
        }
        const remaining = deadline - clock.now();
        if (spec.signal?.aborted || remaining <= 0) throw giveUp('deadline reached', n - 1);
        const { end, answer } = await attempt(spec, Math.min(options.requestTimeoutMs, remaining));
        const step = retryStep(end, {
          attempt: n,
          remainingMs: deadline - clock.now(),
          policy,
          random,
        });
        if (step.next === 'done' && answer) return answer;
        if (step.next === 'unknown' || step.next === 'done')
          throw giveUp(step.next === 'unknown' ? step.why : 'no answer', n);
        stats.retries += 1;
        if (step.rateLimited) {
          stats.rateLimited += 1;
          holdUntil = Math.max(holdUntil, clock.now() + step.waitMs);
        }
        logger.debug(
          {
            op: spec.op,
            clientOrderId: spec.clientOrderId,
            attempt: n,
            ended: end.kind === 'answer' ? end.status : end.kind === 'reset' ? end.code : 'timeout',
            waitMs: step.waitMs,
          },
          'exchange call retried',
        );
        if (!step.rateLimited) await sleep(step.waitMs, spec.signal);
      }
    },
    stats: () => ({ ...stats }),
    close: () => pool.close(),
  };
}
