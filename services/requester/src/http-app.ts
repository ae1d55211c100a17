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
//
// On Node, POST /v1/transactions has a lane of its own (http-lane.ts) that skips the framework
// for a request that passes every check: hono's request and response objects cost more than
// the rest of such a request. What the route decides (submitReply, failureReply) and how a
// request is logged and traced (the frame) are the same code on both paths; any request the
// lane does not take whole goes to this app with its body already read.
import { randomUUID } from 'node:crypto';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { fieldIssues, isCountersignError } from '@countersign/contracts';
import type { ApiKeyEntry, FieldIssue } from '@countersign/contracts';
import { extractTrace, noopMetrics, withSpan, type Metrics } from '@countersign/observability';
import { bearerToken, createApiKeyAuthenticator, type ApiKeyPrincipal } from './api-keys.ts';
import { bodyOf, createSubmitLane, readNodeBody, registerLane, TOO_LARGE } from './http-lane.ts';
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
import { REQUEST_ID, requesterRoutes, type SubmitBody } from './http-routes.ts';
import {
  PROBLEM_CONTENT_TYPE,
  problem,
  problemResponse,
  Problems,
  type Problem,
  type ProblemKind,
} from './problem.ts';
import type { Requester } from './requester.ts';
import type { TransactionStatus } from './transaction-status.ts';
import type { z } from '@hono/zod-openapi';

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

/** The request as the frame sees it (a hono context, or a Node request in the lane). */
export interface FrameRequest {
  readonly method: string;
  readonly path: string;
  header(name: string): string | undefined;
}
/** How a request ended, for its log line and the refusal metric. */
export interface FrameEnd {
  readonly status: number;
  readonly refusal?: ProblemKind | undefined;
  readonly apiKey?: string | undefined;
}
/** Runs a request inside its request id, log line and span. */
export type RequestFrame = (
  request: FrameRequest,
  run: (requestId: string, log: Logger) => Promise<FrameEnd>,
) => Promise<void>;
/** What POST /v1/transactions answers to a valid body. */
export type SubmitRoute = (
  principal: ApiKeyPrincipal,
  body: z.output<typeof SubmitBody>,
  idempotencyKey: string | undefined,
  log: Logger,
) => Promise<Reply>;

/** Problems that the requester library already counted (or that are not a refused request). */
const NOT_API_REFUSALS: ReadonlySet<ProblemKind> = new Set<ProblemKind>([
  'UNAVAILABLE',
  'INTERNAL',
  'NOT_FOUND',
]);

// ---- helpers ----

/** What a route answers, before it is written (by hono, or by the submit lane). */
export type Reply =
  | { readonly status: number; readonly body: unknown; readonly headers?: Record<string, string> }
  | {
      readonly problem: ProblemKind;
      readonly detail: string;
      readonly errors?: readonly FieldIssue[];
      readonly headers?: Record<string, string>;
    };

const refuse = (
  kind: ProblemKind,
  detail: string,
  errors?: readonly FieldIssue[],
  headers?: Record<string, string>,
): Reply => ({
  problem: kind,
  detail,
  ...(errors ? { errors } : {}),
  ...(headers ? { headers } : {}),
});

/** A problem answer's body and headers (RFC 9457; 401 names the scheme). */
function problemParts(
  kind: ProblemKind,
  detail: string,
  requestId: string | undefined,
  errors?: readonly FieldIssue[],
  headers: Record<string, string> = {},
): { readonly body: Problem; readonly headers: Record<string, string> } {
  return {
    body: problem(kind, detail, {
      ...(errors ? { errors } : {}),
      ...(requestId ? { requestId } : {}),
    }),
    headers: {
      ...(kind === 'AUTH_REQUIRED' ? { 'www-authenticate': 'Bearer realm="countersign"' } : {}),
      ...headers,
    },
  };
}

function send(
  c: Context<Env>,
  kind: ProblemKind,
  detail: string,
  errors?: readonly FieldIssue[],
  headers: Record<string, string> = {},
): Response {
  c.set('refusal', kind);
  const parts = problemParts(kind, detail, c.get('requestId'), errors, headers);
  return problemResponse(parts.body, parts.headers);
}

/** Writes a reply with hono. */
function reply(c: Context<Env>, r: Reply): Response {
  if ('problem' in r) return send(c, r.problem, r.detail, r.errors, r.headers);
  for (const [name, value] of Object.entries(r.headers ?? {})) c.header(name, value);
  return c.json(r.body as object, r.status as 202);
}

/** Writes a reply straight to a Node response (the submit lane); returns its status. */
export function writeReply(res: ServerResponse, r: Reply, requestId: string): number {
  const parts =
    'problem' in r
      ? {
          status: Problems[r.problem].status,
          type: PROBLEM_CONTENT_TYPE,
          ...problemParts(r.problem, r.detail, requestId, r.errors, r.headers),
        }
      : { status: r.status, type: 'application/json', body: r.body, headers: r.headers ?? {} };
  const text = JSON.stringify(parts.body);
  res.writeHead(parts.status, {
    'content-type': parts.type,
    ...parts.headers,
    'content-length': Buffer.byteLength(text),
    'x-request-id': requestId,
  });
  res.end(text);
  return parts.status;
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

  // Request id + one structured log line per request (no headers, no bodies, no tokens); the
  // trace starts here (or continues the caller's W3C traceparent header). Both paths use it.
  const frame: RequestFrame = async (request, run) => {
    const offered = request.header('x-request-id');
    const requestId = offered !== undefined && REQUEST_ID.test(offered) ? offered : randomUUID();
    const log = logger.child({ reqId: requestId });
    const started = performance.now();
    const end = await withSpan(
      `HTTP ${request.method}`,
      { 'http.request.method': request.method, 'url.path': request.path },
      async (span) => {
        const ended = await run(requestId, log);
        span.setAttribute('http.response.status_code', ended.status);
        return ended;
      },
      extractTrace({
        traceparent: request.header('traceparent'),
        tracestate: request.header('tracestate'),
      }),
    );
    if (end.refusal !== undefined && !NOT_API_REFUSALS.has(end.refusal)) {
      metrics.count('requests_total', { result: 'refused', reason: end.refusal });
    }
    log.info(
      {
        method: request.method,
        path: request.path,
        status: end.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        apiKey: end.apiKey,
      },
      'request',
    );
  };
  app.use('*', (c, next) =>
    frame(
      { method: c.req.method, path: c.req.path, header: (n) => c.req.header(n) },
      async (requestId, log) => {
        c.set('requestId', requestId);
        c.set('log', log);
        await next();
        c.res.headers.set('x-request-id', requestId);
        return {
          status: c.res.status,
          refusal: c.get('refusal'),
          apiKey: c.get('principal')?.name,
        };
      },
    ),
  );

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

  /** The principal of an Authorization header: null without a bearer key, undefined for an unknown one. */
  const principalOf = (header: string | undefined): ApiKeyPrincipal | null | undefined => {
    const key = bearerToken(header);
    return key === null ? null : (auth.authenticate(key) ?? undefined);
  };
  const authenticate: MiddlewareHandler<Env> = async (c, next) => {
    const principal = principalOf(c.req.header('authorization'));
    if (principal === null)
      return send(c, 'AUTH_REQUIRED', 'send an API key as "Authorization: Bearer <key>"');
    if (principal === undefined) return send(c, 'AUTH_REQUIRED', 'unknown API key');
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
    // The submit lane may have read it already.
    const text = await (bodyOf(incoming) ?? readNodeBody(incoming, options.maxBodyBytes));
    if (text === TOO_LARGE) return tooLarge(c);
    // Without a Content-Type, the route's media type gate answers 415 when the raw request has a
    // body; the Node request's body was read here, so the gate would see none (and the answer
    // would be the validator's 422). A raw request that carries the text keeps the gate's
    // answer, at its place among the checks. Rare, so the Request it costs does not matter.
    if (text !== '' && c.req.header('content-type') === undefined) {
      c.req.raw = new Request(c.req.url, {
        method: 'POST',
        headers: c.req.raw.headers,
        body: text,
      });
    }
    // hono types the cache by value, but stores (and reads) promises.
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
    await next();
    return undefined;
  };
  app.use('/v1/*', readBody);

  /** The answer to an Idempotency-Key request, whatever `submitOnce` found. */
  function onceReply(outcome: OnceOutcome, log: Logger): Reply {
    switch (outcome.state) {
      case 'replay':
        return { ...outcome.response, headers: { 'idempotent-replayed': 'true' } };
      case 'answered':
        if (outcome.resumed) {
          log.info('resumed an abandoned Idempotency-Key record: sent its token(s) again');
        }
        return outcome.response;
      case 'conflict':
        return refuse(
          'IDEMPOTENCY_CONFLICT',
          'this Idempotency-Key was used with a different body',
        );
      case 'in_progress':
        return refuse(
          'IDEMPOTENCY_CONFLICT',
          'a request with this Idempotency-Key is still in progress',
        );
      case 'taken_over':
        return refuse(
          'IDEMPOTENCY_CONFLICT',
          'a retry with this Idempotency-Key took the request over',
        );
    }
  }

  /** Identity of an Idempotency-Key request: per API key, route and canonical body. */
  const idOf = (
    principal: ApiKeyPrincipal,
    route: string,
    key: string,
    body: unknown,
  ): IdempotencyId => ({
    scope: principal.name,
    key,
    bodySha256: canonicalSha256({ route, body }),
  });
  const storeErrorLogger = (log: Logger) => (err: unknown) =>
    log.warn(
      errorFields(err),
      'idempotency record not updated; a retry after the lease sends the same token again',
    );

  /** POST /v1/transactions once its body and headers are valid (both paths). */
  const submitReply: SubmitRoute = async (principal, body, key, log) => {
    if (!principal.accounts.has(body.account)) {
      return refuse('FORBIDDEN', 'this API key may not act for that account', [
        { path: 'account', message: 'not bound to this API key' },
      ]);
    }
    const enqueued = (r: { jti: string; messageId: string }) => {
      log.info({ jti: r.jti, account: body.account }, 'enqueued');
      return { jti: r.jti, messageId: r.messageId };
    };
    if (key === undefined) {
      return {
        status: 202,
        body: enqueued(await requester.submit(body.txn, { account: body.account })),
      };
    }
    const outcome = await submitOnce(idempotency, idOf(principal, routes.submit.path, key, body), {
      ...singleWork(requester, body, enqueued),
      onStoreError: storeErrorLogger(log),
    });
    return onceReply(outcome, log);
  };

  app.openapi(
    routes.submit,
    async (c) =>
      reply(
        c,
        await submitReply(
          c.get('principal'),
          c.req.valid('json'),
          c.req.valid('header')['idempotency-key'],
          c.get('log'),
        ),
      ) as never,
  );

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
    const outcome = await submitOnce(idempotency, idOf(principal, c.req.path, key, { items }), {
      ...batchWork(requester, items, respond),
      onStoreError: storeErrorLogger(c.get('log')),
    });
    return reply(c, onceReply(outcome, c.get('log'))) as never;
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
    return reply(c, failureReply(err, c.get('log') ?? logger));
  });

  registerLane(
    app,
    createSubmitLane({
      path: routes.submit.path,
      maxBodyBytes: options.maxBodyBytes,
      authenticate: (header: string | undefined) => principalOf(header) ?? null,
      frame,
      submit: submitReply,
      failure: failureReply,
      write: writeReply,
    }),
  );
  return app;
}

/** A thrown error as the answer: 503 when signing, the queue or a store is unavailable. */
function failureReply(err: unknown, log: Logger): Reply {
  const kind = errorKind(err);
  log.error(errorFields(err), 'request failed');
  return refuse(
    kind,
    kind === 'UNAVAILABLE' ? 'signing or the queue is unavailable; retry later' : 'internal error',
  );
}
