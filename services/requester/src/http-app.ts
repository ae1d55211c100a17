// The requester's HTTP API (Hono + @hono/zod-openapi). The same app runs on @hono/node-server
// (main.ts) and as a Lambda handler (lambda.ts). The OpenAPI document at /openapi.json is
// generated from the zod schemas below, which are also what validates requests.
//
// Order of checks: request id → method (405 + Allow for a method a known path does not declare)
// → API key (401) → body size (413, POST) → JSON + schema (422, every bad field path) → account
// binding (403; for GET /v1/transactions/{jti}: 404, like an unknown jti) → Idempotency-Key
// (replay or 409) → sign + enqueue. Answers carry { jti, messageId }, never the token. With an
// Idempotency-Key, the signed token is fixed in the key's record before it is enqueued
// (idempotent-submit.ts), so a retry after a crash sends the same jti, never a new one.
// The routes and their schemas are in http-routes.ts.
import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { fieldIssues, isCountersignError } from '@countersign/contracts';
import type { ApiKeyEntry, FieldIssue } from '@countersign/contracts';
import { extractTrace, noopMetrics, withSpan, type Metrics } from '@countersign/observability';
import { bearerToken, createApiKeyAuthenticator, type ApiKeyPrincipal } from './api-keys.ts';
import { canonicalSha256 } from './canonical-json.ts';
import { errorFields } from './error-log.ts';
import type { IdempotencyStore } from './idempotency-store.ts';
import {
  batchWork,
  singleWork,
  submitOnce,
  type BatchItemResult,
  type IdempotencyId,
  type OnceOutcome,
} from './idempotent-submit.ts';
import { REQUEST_ID, requesterRoutes } from './http-routes.ts';
import { problem, problemResponse, type Problem, type ProblemKind } from './problem.ts';
import type { Requester } from './requester.ts';
import type { TransactionStatus } from './transaction-status.ts';

export { MAX_BATCH_ITEMS } from './http-routes.ts';

const OPENAPI_PATH = '/openapi.json';

export interface RequesterAppOptions {
  readonly requester: Requester;
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly idempotency: IdempotencyStore;
  /** What GET /v1/transactions/{jti} answers from (receipts-wiring.ts builds it). */
  readonly transactions: TransactionStatus;
  readonly logger: Logger;
  /** Largest accepted request body (bytes). */
  readonly maxBodyBytes: number;
  /** The requester's public keys with their validity, served at /.well-known/jwks.json. */
  readonly publicKeys?: () => Promise<{ readonly keys: readonly object[] }>;
  /** Refusals of the API itself (401, 403, 413, 422, 409); the requester counts the rest. */
  readonly metrics?: Metrics;
  /**
   * Mounts more routes (GET /metrics, the operator page) behind `authenticate`, the same API-key
   * check as /v1. Called before the not-found handler.
   */
  readonly extraRoutes?: (app: OpenAPIHono<Env>, authenticate: MiddlewareHandler<Env>) => void;
}

export type Env = {
  Variables: {
    requestId: string;
    principal: ApiKeyPrincipal;
    log: Logger;
    /** The problem this request was answered with, if any (for the refusal metric). */
    refusal?: ProblemKind;
  };
};

/** Problems that the requester library already counted (or that are not a refused request). */
const NOT_API_REFUSALS: ReadonlySet<ProblemKind> = new Set<ProblemKind>([
  'UNAVAILABLE',
  'INTERNAL',
  'NOT_FOUND',
]);

// ---- helpers ----

function send(
  c: Context<Env>,
  kind: ProblemKind,
  detail: string,
  errors?: readonly FieldIssue[],
  headers: Record<string, string> = {},
): Response {
  c.set('refusal', kind);
  const p: Problem = problem(kind, detail, {
    ...(errors ? { errors } : {}),
    requestId: c.get('requestId'),
  });
  return problemResponse(p, {
    ...(kind === 'AUTH_REQUIRED' ? { 'www-authenticate': 'Bearer realm="countersign"' } : {}),
    ...headers,
  });
}

/**
 * The methods of each path the app serves (HEAD with GET, as hono answers it), and a lookup by
 * request path; templates like `{jti}` match one path segment.
 */
function methodTable(routes: readonly { method: string; path: string }[]) {
  const exact = new Map<string, Set<string>>();
  const templated: { regex: RegExp; methods: Set<string> }[] = [];
  for (const r of routes) {
    const methods = new Set([r.method.toUpperCase()]);
    if (methods.has('GET')) methods.add('HEAD');
    if (r.path.includes('{')) {
      const source = r.path
        .split(/\{[^}]+\}/)
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]+');
      const existing = templated.find((t) => t.regex.source === `^${source}$`);
      if (existing) for (const m of methods) existing.methods.add(m);
      else templated.push({ regex: new RegExp(`^${source}$`), methods });
    } else {
      const existing = exact.get(r.path);
      if (existing) for (const m of methods) existing.add(m);
      else exact.set(r.path, methods);
    }
  }
  return (path: string): ReadonlySet<string> | undefined =>
    exact.get(path) ?? templated.find((t) => t.regex.test(path))?.methods;
}

function errorKind(err: unknown): ProblemKind {
  if (!isCountersignError(err)) return 'INTERNAL';
  switch (err.code) {
    case 'REQUEST_INVALID':
      return 'REQUEST_INVALID';
    case 'SIGNING_FAILED':
    case 'QUEUE_FAILED':
    case 'KEY_UNAVAILABLE':
    case 'STORE_FAILED':
      return 'UNAVAILABLE';
    default:
      return 'INTERNAL';
  }
}

function toPublicItem(r: BatchItemResult) {
  return r.ok
    ? { index: r.index, ok: true as const, jti: r.jti, messageId: r.messageId }
    : { index: r.index, ok: false as const, code: r.code, message: r.message };
}

// ---- the app ----

/** How a field path names where the field was (`header idempotency-key`, `query wait`). */
const SOURCE_PREFIX: Partial<Record<string, string>> = {
  header: 'header ',
  query: 'query ',
  param: 'path ',
};

export function createRequesterApp(options: RequesterAppOptions): OpenAPIHono<Env> {
  const { requester, idempotency, transactions, logger } = options;
  const metrics = options.metrics ?? noopMetrics;
  const auth = createApiKeyAuthenticator(options.apiKeys);
  const routes = requesterRoutes(options.maxBodyBytes);

  const app = new OpenAPIHono<Env>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const source = SOURCE_PREFIX[result.target] ?? '';
        const errors = fieldIssues(result.error).map((i) => ({ ...i, path: `${source}${i.path}` }));
        return send(c, 'REQUEST_INVALID', 'the request has invalid fields', errors);
      }
      return undefined;
    },
  });

  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key from `requester.apiKeys` (configured as its SHA-256)',
  });

  // Request id + one structured log line per request (no headers, no bodies, no tokens).
  app.use('*', async (c, next) => {
    const offered = c.req.header('x-request-id');
    const requestId = offered !== undefined && REQUEST_ID.test(offered) ? offered : randomUUID();
    const log = logger.child({ reqId: requestId });
    c.set('requestId', requestId);
    c.set('log', log);
    const started = performance.now();
    // The trace starts here (or continues the caller's W3C traceparent header).
    await withSpan(
      `HTTP ${c.req.method}`,
      { 'http.request.method': c.req.method, 'url.path': c.req.path },
      async (span) => {
        await next();
        span.setAttribute('http.response.status_code', c.res.status);
      },
      extractTrace({
        traceparent: c.req.header('traceparent'),
        tracestate: c.req.header('tracestate'),
      }),
    );
    const refusal = c.get('refusal');
    if (refusal !== undefined && !NOT_API_REFUSALS.has(refusal)) {
      metrics.count('requests_total', { result: 'refused', reason: refusal });
    }
    c.res.headers.set('x-request-id', requestId);
    log.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        apiKey: c.get('principal')?.name,
      },
      'request',
    );
  });

  // A method a known path does not serve: 405 with Allow, before anything else is looked at
  // (the routes are public in /openapi.json). Unknown paths fall through to 404.
  const documented = [
    ...Object.values(routes).map((r) => ({ method: r.method, path: r.path })),
    { method: 'get', path: OPENAPI_PATH },
  ];
  const methodsOf = methodTable(documented);
  const methodCheck: MiddlewareHandler<Env> = async (c, next) => {
    const allowed = methodsOf(c.req.path);
    if (allowed !== undefined && !allowed.has(c.req.method)) {
      const allow = [...allowed].join(', ');
      const detail = `${c.req.method} is not allowed here; allowed: ${allow}`;
      return send(c, 'METHOD_NOT_ALLOWED', detail, undefined, { allow });
    }
    await next();
    return undefined;
  };
  app.use('*', methodCheck);

  const authenticate: MiddlewareHandler<Env> = async (c, next) => {
    const key = bearerToken(c.req.header('authorization'));
    if (key === null)
      return send(c, 'AUTH_REQUIRED', 'send an API key as "Authorization: Bearer <key>"');
    const principal = auth.authenticate(key);
    if (principal === null) return send(c, 'AUTH_REQUIRED', 'unknown API key');
    c.set('principal', principal);
    await next();
    return undefined;
  };
  app.use('/v1/*', authenticate);
  const tooLarge = (c: Context<Env>) =>
    send(c, 'PAYLOAD_TOO_LARGE', `the body exceeds ${options.maxBodyBytes} bytes`);
  const webBodyLimit = bodyLimit({ maxSize: options.maxBodyBytes, onError: tooLarge });
  // On @hono/node-server, read the body straight from the Node request: hono's bodyLimit (and
  // a later c.req.json()) would first build a web Request and a ReadableStream around it,
  // which cost more than the rest of the request. The text goes into hono's body cache, where
  // the JSON validator reads it. Elsewhere (Lambda) hono's bodyLimit does the same job.
  const readBody: MiddlewareHandler<Env> = async (c, next) => {
    if (c.req.method !== 'POST') return next(); // the GET routes take no body
    const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
    if (!(incoming instanceof IncomingMessage)) return webBodyLimit(c, next);
    const declared = Number(incoming.headers['content-length'] ?? 0);
    if (declared > options.maxBodyBytes) return tooLarge(c);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of incoming as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > options.maxBodyBytes) return tooLarge(c); // whatever content-length said
      chunks.push(chunk);
    }
    // hono types the cache by value, but stores (and reads) promises.
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(
      Buffer.concat(chunks, size).toString('utf8'),
    );
    await next();
    return undefined;
  };
  app.use('/v1/*', readBody);

  /** The answer to an Idempotency-Key request, whatever `submitOnce` found. */
  function answer(c: Context<Env>, outcome: OnceOutcome): Response {
    switch (outcome.state) {
      case 'replay':
        c.header('idempotent-replayed', 'true');
        return c.json(outcome.response.body, outcome.response.status as 202);
      case 'answered':
        if (outcome.resumed) {
          c.get('log').info('resumed an abandoned Idempotency-Key record: sent its token(s) again');
        }
        return c.json(outcome.response.body, outcome.response.status as 202);
      case 'conflict':
        return send(
          c,
          'IDEMPOTENCY_CONFLICT',
          'this Idempotency-Key was used with a different body',
        );
      case 'in_progress':
        return send(
          c,
          'IDEMPOTENCY_CONFLICT',
          'a request with this Idempotency-Key is still in progress',
        );
      case 'taken_over':
        return send(
          c,
          'IDEMPOTENCY_CONFLICT',
          'a retry with this Idempotency-Key took the request over',
        );
    }
  }

  /** Identity of an Idempotency-Key request: per API key, route and canonical body. */
  const idOf = (c: Context<Env>, key: string, body: unknown): IdempotencyId => ({
    scope: c.get('principal').name,
    key,
    bodySha256: canonicalSha256({ route: c.req.path, body }),
  });
  const storeErrorLogger = (c: Context<Env>) => (err: unknown) =>
    c
      .get('log')
      .warn(
        errorFields(err),
        'idempotency record not updated; a retry after the lease sends the same token again',
      );

  app.openapi(routes.submit, async (c) => {
    const body = c.req.valid('json');
    if (!c.get('principal').accounts.has(body.account)) {
      return send(c, 'FORBIDDEN', 'this API key may not act for that account', [
        { path: 'account', message: 'not bound to this API key' },
      ]) as never;
    }
    const enqueued = (r: { jti: string; messageId: string }) => {
      c.get('log').info({ jti: r.jti, account: body.account }, 'enqueued');
      return { jti: r.jti, messageId: r.messageId };
    };
    const key = c.req.valid('header')['idempotency-key'];
    if (key === undefined) {
      return c.json(enqueued(await requester.submit(body.txn, { account: body.account })), 202);
    }
    const outcome = await submitOnce(idempotency, idOf(c, key, body), {
      ...singleWork(requester, body, enqueued),
      onStoreError: storeErrorLogger(c),
    });
    return answer(c, outcome) as never;
  });

  app.openapi(routes.batch, async (c) => {
    const { items } = c.req.valid('json');
    const principal = c.get('principal');
    const forbidden = items.flatMap((item, i) =>
      principal.accounts.has(item.account)
        ? []
        : [{ path: `items[${i}].account`, message: 'not bound to this API key' }],
    );
    if (forbidden.length > 0) {
      return send(c, 'FORBIDDEN', 'this API key may not act for some accounts', forbidden) as never;
    }
    const respond = (results: readonly BatchItemResult[]) => {
      const accepted = results.filter((r) => r.ok).length;
      c.get('log').info({ accepted, failed: results.length - accepted }, 'batch enqueued');
      return {
        status: accepted === results.length ? 202 : 207,
        body: { accepted, failed: results.length - accepted, items: results.map(toPublicItem) },
      };
    };
    const key = c.req.valid('header')['idempotency-key'];
    if (key === undefined) {
      const r = respond(await requester.submitMany(items));
      return c.json(r.body, r.status as 202);
    }
    const outcome = await submitOnce(idempotency, idOf(c, key, { items }), {
      ...batchWork(requester, items, respond),
      onStoreError: storeErrorLogger(c),
    });
    return answer(c, outcome) as never;
  });

  app.openapi(routes.status, async (c) => {
    const { jti } = c.req.valid('param');
    const { wait } = c.req.valid('query');
    const found = await transactions.find(jti, c.get('principal').accounts, {
      waitMs: wait === undefined ? 0 : Number(wait) * 1000,
      signal: c.req.raw.signal,
    });
    // Unknown, and another account's: the same answer after the same single read.
    if (found === null) return send(c, 'NOT_FOUND', 'no such transaction') as never;
    return c.json(found, 200);
  });

  const publicKeys = options.publicKeys;
  if (publicKeys) {
    app.openapi(routes.jwks, async (c) => {
      const jwks = await publicKeys();
      c.header('cache-control', 'public, max-age=300');
      return c.json({ keys: jwks.keys.map((k) => ({ ...k })) }, 200);
    });
  }
  app.openapi(routes.health, (c) => c.json({ status: 'ok' as const }, 200));

  app.doc31(OPENAPI_PATH, {
    openapi: '3.1.0',
    info: {
      title: 'countersign requester',
      version: '1.1.0',
      description:
        'Signs transaction requests (JWS, typ txn+jwt) with the requester key and enqueues them ' +
        'for the exchange gateway, and tells what happened to each order (the gateway’s signed ' +
        'receipt). Errors are RFC 9457 problem details (`application/problem+json`). Every answer ' +
        'carries `X-Request-Id` (the one sent when it matches [A-Za-z0-9._:-]{1,128}, else a new ' +
        'one). A method a path does not declare answers 405 with `Allow`.',
    },
  });

  options.extraRoutes?.(app, authenticate);

  app.notFound((c) => send(c, 'NOT_FOUND', 'no such route'));

  app.onError((err, c) => {
    if (err instanceof HTTPException) {
      if (err.status === 400) {
        return send(c, 'REQUEST_INVALID', 'the body is not valid JSON', [
          { path: '(root)', message: 'malformed JSON' },
        ]);
      }
      if (err.status === 415) return send(c, 'UNSUPPORTED_MEDIA_TYPE', 'send application/json');
      if (err.status === 413) return send(c, 'PAYLOAD_TOO_LARGE', 'the body is too large');
    }
    const kind = errorKind(err);
    const log = c.get('log') ?? logger;
    log.error(errorFields(err), 'request failed');
    return send(
      c,
      kind,
      kind === 'UNAVAILABLE'
        ? 'signing or the queue is unavailable; retry later'
        : 'internal error',
    );
  });

  return app;
}
