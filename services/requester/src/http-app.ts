// The requester's HTTP API (Hono + @hono/zod-openapi). The same app runs on @hono/node-server
// (main.ts) and as a Lambda handler (lambda.ts). The OpenAPI document at /openapi.json is
// generated from the zod schemas below, which are also what validates requests.
//
// Order of checks for the POST routes: request id → API key (401) → body size (413) →
// JSON + schema (422, every bad field path) → account binding (403) → Idempotency-Key
// (replay or 409) → sign + enqueue. Answers carry { jti, messageId }, never the token. With an
// Idempotency-Key, the signed token is fixed in the key's record before it is enqueued
// (idempotent-submit.ts), so a retry after a crash sends the same jti, never a new one.
import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import {
  Identifier,
  TransactionRequest,
  fieldIssues,
  isCountersignError,
} from '@countersign/contracts';
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
import { problem, problemResponse, type Problem, type ProblemKind } from './problem.ts';
import type { Requester } from './requester.ts';

export const MAX_BATCH_ITEMS = 100;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequesterAppOptions {
  readonly requester: Requester;
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly idempotency: IdempotencyStore;
  readonly logger: Logger;
  /** Largest accepted request body (bytes). */
  readonly maxBodyBytes: number;
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

// ---- schemas (validation and OpenAPI document) ----

const SubmitBody = z
  .object({ account: Identifier, txn: TransactionRequest })
  .strict()
  .openapi('SubmitRequest');
const BatchBody = z
  .object({ items: z.array(SubmitBody).min(1).max(MAX_BATCH_ITEMS) })
  .strict()
  .openapi('BatchRequest');
const Accepted = z
  .object({
    jti: z.string().openapi({ description: 'Token id (22 base64url chars); the order id' }),
    messageId: z.string().openapi({ description: 'Queue message id' }),
  })
  .openapi('Accepted');
const BatchItemResult = z
  .union([
    z.object({
      index: z.number().int(),
      ok: z.literal(true),
      jti: z.string(),
      messageId: z.string(),
    }),
    z.object({
      index: z.number().int(),
      ok: z.literal(false),
      code: z.string(),
      message: z.string(),
    }),
  ])
  .openapi('BatchItemResult');
const BatchResult = z
  .object({ accepted: z.number().int(), failed: z.number().int(), items: z.array(BatchItemResult) })
  .openapi('BatchResult');
const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    requestId: z.string().optional(),
  })
  .openapi('Problem');
const PostHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 printable ASCII characters')
    .optional()
    .openapi({
      description:
        'Retrying with the same key and body within 24 h returns the first answer without signing ' +
        'again; a request interrupted after signing is finished with the same jti (same token)',
    }),
});

const problemContent = { 'application/problem+json': { schema: ProblemSchema } };
const errorResponses = {
  401: { description: 'Missing or unknown API key', content: problemContent },
  403: { description: 'The API key may not act for this account', content: problemContent },
  409: {
    description:
      'Idempotency-Key reused with another body, still in progress, or taken over by a retry',
    content: problemContent,
  },
  413: { description: 'Body larger than the limit', content: problemContent },
  415: { description: 'Body is not application/json', content: problemContent },
  422: {
    description: 'Invalid JSON or fields; `errors` lists each bad path',
    content: problemContent,
  },
  503: { description: 'Signing or the queue is unavailable; retry', content: problemContent },
} as const;

const submitRoute = createRoute({
  method: 'post',
  path: '/v1/transactions',
  summary: 'Sign one transaction request and enqueue it',
  security: [{ apiKey: [] }],
  request: {
    headers: PostHeaders,
    body: { content: { 'application/json': { schema: SubmitBody } }, required: true },
  },
  responses: {
    202: {
      description: 'Signed and enqueued',
      content: { 'application/json': { schema: Accepted } },
    },
    ...errorResponses,
  },
});

const batchRoute = createRoute({
  method: 'post',
  path: '/v1/transactions:batch',
  summary: `Sign and enqueue up to ${MAX_BATCH_ITEMS} requests`,
  description:
    'The whole batch is validated first: any invalid item → 422 listing `items[i]...` paths and ' +
    'nothing is signed; any item for an account the key may not use → 403. Then 202 when every ' +
    'item was enqueued, or 207 with a result per item (in order) when some failed to sign or enqueue. ' +
    'With an Idempotency-Key, a retry sends the items that failed to enqueue again (same jti).',
  security: [{ apiKey: [] }],
  request: {
    headers: PostHeaders,
    body: { content: { 'application/json': { schema: BatchBody } }, required: true },
  },
  responses: {
    202: {
      description: 'Every item enqueued',
      content: { 'application/json': { schema: BatchResult } },
    },
    207: {
      description: 'Some items failed; see each item',
      content: { 'application/json': { schema: BatchResult } },
    },
    ...errorResponses,
  },
});

const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Liveness',
  responses: {
    200: {
      description: 'Up',
      content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
    },
  },
});

// ---- helpers ----

function send(
  c: Context<Env>,
  kind: ProblemKind,
  detail: string,
  errors?: readonly FieldIssue[],
): Response {
  c.set('refusal', kind);
  const p: Problem = problem(kind, detail, {
    ...(errors ? { errors } : {}),
    requestId: c.get('requestId'),
  });
  return problemResponse(
    p,
    kind === 'AUTH_REQUIRED' ? { 'www-authenticate': 'Bearer realm="countersign"' } : {},
  );
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

export function createRequesterApp(options: RequesterAppOptions): OpenAPIHono<Env> {
  const { requester, idempotency, logger } = options;
  const metrics = options.metrics ?? noopMetrics;
  const auth = createApiKeyAuthenticator(options.apiKeys);

  const app = new OpenAPIHono<Env>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const source = result.target === 'header' ? 'header ' : '';
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

  app.openapi(submitRoute, async (c) => {
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

  app.openapi(batchRoute, async (c) => {
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

  app.openapi(healthRoute, (c) => c.json({ status: 'ok' as const }, 200));

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'countersign requester',
      version: '1.0.0',
      description:
        'Signs transaction requests (JWS, typ txn+jwt) with the requester key and enqueues them ' +
        'for the exchange gateway. Errors are RFC 9457 problem details.',
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
