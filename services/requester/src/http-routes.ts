// The HTTP API's routes as OpenAPI operations (@hono/zod-openapi): the same zod schemas validate
// requests and generate /openapi.json, so the document states every constraint the server
// enforces (patterns, lengths, enums, bounds, headers, the body limit, every error answer).
// test/requester-schemathesis.test.ts fuzzes a live requester against this document.
import { createRoute, z } from '@hono/zod-openapi';
import { Identifier, JTI, TransactionRequest } from '@countersign/contracts';
import { Problems } from './problem.ts';
import { MAX_WAIT_SEC } from './transaction-status.ts';

export const MAX_BATCH_ITEMS = 100;
/** X-Request-Id values that are honoured (others are replaced by a new id). */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Idempotency-Key values (printable ASCII, no space). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** `?wait=`: whole seconds from 0 to MAX_WAIT_SEC, digits only. */
const WAIT = new RegExp(`^(?:[0-9]|1[0-9]|${MAX_WAIT_SEC})$`);

const EXAMPLE_TXN = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.015',
  limitPrice: '64000.10',
  timeInForce: 'GTC',
} as const;
const EXAMPLE_JTI = '0V7u2hCk3L9qZx1yQp4mWn';
const EXAMPLE_RECEIPT =
  'eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6InR4bi1yZWNlaXB0K2p3dCJ9.eyJ2IjoxLCJpc3MiOiJkZW1vLWdhdGV3YXkiLCJvdXRjb21lIjoiUkVKRUNURUQiLCJyZWFzb24iOiJOT1RJT05BTF9UT09fSElHSCJ9.c2lnbmF0dXJl';

// ---- schemas ----

export const SubmitBody = z
  .object({ account: Identifier, txn: TransactionRequest })
  .strict()
  .openapi('SubmitRequest', { example: { account: 'acct-1', txn: EXAMPLE_TXN } });

export const BatchBody = z
  .object({ items: z.array(SubmitBody).min(1).max(MAX_BATCH_ITEMS) })
  .strict()
  .openapi('BatchRequest', {
    example: {
      items: [
        { account: 'acct-1', txn: EXAMPLE_TXN },
        { account: 'acct-2', txn: { ...EXAMPLE_TXN, side: 'sell', timeInForce: 'IOC' } },
      ],
    },
  });

const MessageId = z.string().min(1).max(128).openapi({ description: 'Queue message id' });
const Accepted = z
  .object({
    jti: z
      .string()
      .regex(JTI)
      .openapi({ description: 'Token id (22 base64url chars): the order id' }),
    messageId: MessageId,
  })
  .openapi('Accepted', {
    example: { jti: EXAMPLE_JTI, messageId: '0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b' },
  });

const BatchItemResult = z
  .union([
    z.object({
      index: z
        .number()
        .int()
        .min(0)
        .max(MAX_BATCH_ITEMS - 1),
      ok: z.literal(true),
      jti: z.string().regex(JTI),
      messageId: MessageId,
    }),
    z.object({
      index: z
        .number()
        .int()
        .min(0)
        .max(MAX_BATCH_ITEMS - 1),
      ok: z.literal(false),
      code: z.string().min(1),
      message: z.string(),
    }),
  ])
  .openapi('BatchItemResult');
const BatchResult = z
  .object({
    accepted: z.number().int().min(0).max(MAX_BATCH_ITEMS),
    failed: z.number().int().min(0).max(MAX_BATCH_ITEMS),
    items: z.array(BatchItemResult).min(1).max(MAX_BATCH_ITEMS),
  })
  .openapi('BatchResult', {
    example: {
      accepted: 1,
      failed: 1,
      items: [
        { index: 0, ok: true, jti: EXAMPLE_JTI, messageId: '0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b' },
        { index: 1, ok: false, code: 'QUEUE_FAILED', message: 'the queue is unavailable' },
      ],
    },
  });

const Outcome = z.enum(['EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN']);
export const TransactionStatusSchema = z
  .union([
    z.object({ jti: z.string().regex(JTI), status: z.literal('queued') }).strict(),
    z
      .object({
        jti: z.string().regex(JTI),
        status: z.literal('receipted'),
        outcome: Outcome,
        reason: z
          .string()
          .regex(/^[A-Z_]{1,64}$/)
          .optional()
          .openapi({ description: 'Why, when not EXECUTED: a stable code (NOTIONAL_TOO_HIGH, …)' }),
        receipt: z
          .string()
          .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/)
          .max(16_384)
          .openapi({
            description:
              "The gateway's signed receipt (compact JWS, typ txn-receipt+jwt): verify it with the gateway's public key",
          }),
      })
      .strict(),
  ])
  .openapi('TransactionStatus', {
    example: {
      jti: EXAMPLE_JTI,
      status: 'receipted',
      outcome: 'REJECTED',
      reason: 'NOTIONAL_TOO_HIGH',
      receipt: EXAMPLE_RECEIPT,
    },
  });

const ProblemCode = z.enum(
  Object.keys(Problems) as [keyof typeof Problems, ...(keyof typeof Problems)[]],
);
const ProblemSchema = z
  .object({
    type: z.string().regex(/^urn:countersign:problem:[a-z-]+$/),
    title: z.string().min(1),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    code: ProblemCode,
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }).strict())
      .optional()
      .openapi({
        description:
          'Each bad field (`txn.quantity`, `items[3].txn.side`, `header idempotency-key`)',
      }),
    requestId: z.string().regex(REQUEST_ID).optional(),
  })
  .strict()
  .openapi('Problem', {
    example: {
      type: 'urn:countersign:problem:request-invalid',
      title: 'Invalid request',
      status: 422,
      detail: 'the request has invalid fields',
      code: 'REQUEST_INVALID',
      errors: [{ path: 'txn.quantity', message: 'must not be empty' }],
      requestId: '5f0c6a2e-3b1d-4c8e-9f7a-2d4b6e8a0c1f',
    },
  });

// ---- headers ----

const requestIdHeader = {
  'X-Request-Id': {
    description:
      'The request id: the X-Request-Id sent when it matches [A-Za-z0-9._:-]{1,128}, else a new one',
    schema: { type: 'string' as const, pattern: REQUEST_ID.source },
    required: true,
  },
};
const replayedHeader = {
  'Idempotent-Replayed': {
    description:
      'Present (`true`) when the answer is the replay of an earlier Idempotency-Key request',
    schema: { type: 'string' as const, enum: ['true'] },
    required: false,
  },
};

export const PostHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(IDEMPOTENCY_KEY, 'must be 1-255 printable ASCII characters')
    .optional()
    .openapi({
      description:
        'Retrying with the same key and body within 24 h returns the first answer without signing ' +
        'again; a request interrupted after signing is finished with the same jti (same token)',
      example: 'order-2026-0001',
    }),
});

// ---- responses ----

const problemContent = { 'application/problem+json': { schema: ProblemSchema } };
const problemResponse = (description: string, headers: object = {}) => ({
  description,
  headers: { ...requestIdHeader, ...headers },
  content: problemContent,
});
const authResponses = {
  401: problemResponse('Missing or unknown API key', {
    'WWW-Authenticate': {
      description: 'Bearer realm="countersign"',
      schema: { type: 'string' as const },
      required: true,
    },
  }),
};

function postErrors(maxBodyBytes: number) {
  return {
    ...authResponses,
    403: problemResponse('The API key may not act for this account (`errors` names each item)'),
    409: problemResponse(
      'Idempotency-Key reused with another body, still in progress, or taken over by a retry',
    ),
    413: problemResponse(`Body larger than ${maxBodyBytes} bytes`),
    415: problemResponse('Body is not application/json'),
    422: problemResponse('Invalid JSON, fields or headers; `errors` lists each bad path'),
    500: problemResponse('Internal error (the detail says nothing more)'),
    503: problemResponse('Signing, the queue or the store is unavailable; retry'),
  } as const;
}

function jsonBody<S extends z.ZodType>(schema: S, maxBodyBytes: number) {
  return {
    description: `JSON, at most ${maxBodyBytes} bytes (Content-Length and the bytes read; larger: 413)`,
    content: { 'application/json': { schema } },
    required: true,
  };
}

/** The routes of the app, for a body limit of `maxBodyBytes`. */
export function requesterRoutes(maxBodyBytes: number) {
  const submit = createRoute({
    method: 'post',
    path: '/v1/transactions',
    operationId: 'submitTransaction',
    summary: 'Sign one transaction request and enqueue it',
    security: [{ apiKey: [] }],
    request: { headers: PostHeaders, body: jsonBody(SubmitBody, maxBodyBytes) },
    responses: {
      202: {
        description:
          'Signed and enqueued (the order is remembered: see GET /v1/transactions/{jti})',
        headers: { ...requestIdHeader, ...replayedHeader },
        content: { 'application/json': { schema: Accepted } },
      },
      ...postErrors(maxBodyBytes),
    },
  });

  const batch = createRoute({
    method: 'post',
    path: '/v1/transactions:batch',
    operationId: 'submitTransactions',
    summary: `Sign and enqueue up to ${MAX_BATCH_ITEMS} requests`,
    description:
      'The whole batch is validated first: any invalid item → 422 listing `items[i]...` paths and ' +
      'nothing is signed; any item for an account the key may not use → 403. Then 202 when every ' +
      'item was enqueued, or 207 with a result per item (in order) when some failed to sign or enqueue. ' +
      'With an Idempotency-Key, a retry sends the items that failed to enqueue again (same jti).',
    security: [{ apiKey: [] }],
    request: { headers: PostHeaders, body: jsonBody(BatchBody, maxBodyBytes) },
    responses: {
      202: {
        description: 'Every item enqueued',
        headers: { ...requestIdHeader, ...replayedHeader },
        content: { 'application/json': { schema: BatchResult } },
        links: {
          GetFirstTransaction: {
            operationId: 'getTransaction',
            parameters: { jti: '$response.body#/items/0/jti' },
            description: 'What happened to the first order',
          },
        },
      },
      207: {
        description: 'Some items failed; see each item',
        headers: { ...requestIdHeader, ...replayedHeader },
        content: { 'application/json': { schema: BatchResult } },
      },
      ...postErrors(maxBodyBytes),
    },
  });

  const status = createRoute({
    method: 'get',
    path: '/v1/transactions/{jti}',
    operationId: 'getTransaction',
    summary: 'What happened to an order: queued, or receipted with the gateway’s signed receipt',
    description:
      'Orders of accounts the API key may act for only: any other jti (unknown, or another ' +
      "account's) is 404 with the same body. `receipt` is verified by the requester before it is " +
      'served; check it yourself with the gateway’s public key. An UNKNOWN outcome (the exchange ' +
      'timed out) is later replaced by the follow-up receipt’s.',
    security: [{ apiKey: [] }],
    request: {
      params: z.object({
        jti: z
          .string()
          .regex(JTI, 'must be 22 base64url characters')
          .openapi({
            param: { name: 'jti', in: 'path' },
            description: 'The order id a POST answered',
            example: EXAMPLE_JTI,
          }),
      }),
      query: z.object({
        wait: z
          .string()
          .regex(WAIT, `must be whole seconds from 0 to ${MAX_WAIT_SEC}`)
          .optional()
          .openapi({
            // The wire value is a string of digits; the document states the number it is.
            type: 'integer',
            minimum: 0,
            maximum: MAX_WAIT_SEC,
            description: `Long poll: wait up to this many seconds (at most ${MAX_WAIT_SEC}) for the receipt`,
            example: 10,
          } as never),
      }),
    },
    responses: {
      200: {
        description: 'The order: `queued`, or `receipted` with outcome, reason and receipt',
        headers: requestIdHeader,
        content: { 'application/json': { schema: TransactionStatusSchema } },
      },
      ...authResponses,
      404: problemResponse('No order with this jti for the accounts of this API key'),
      422: problemResponse('Malformed jti or wait; `errors` lists each'),
      500: problemResponse('Internal error (the detail says nothing more)'),
      503: problemResponse('The store or the gateway keys are unavailable; retry'),
    },
  });

  const health = createRoute({
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    summary: 'Liveness',
    responses: {
      200: {
        description: 'Up',
        headers: requestIdHeader,
        content: {
          'application/json': {
            schema: z
              .object({ status: z.literal('ok') })
              .strict()
              .openapi({ example: { status: 'ok' } }),
          },
        },
      },
    },
  });

  const jwks = createRoute({
    method: 'get',
    path: '/.well-known/jwks.json',
    operationId: 'jwks',
    summary: 'The public keys requests are signed with (current and previous, with nbf/exp)',
    description:
      'Verifiers (a gateway, audit) trust this as a JWKS URL key source. Cacheable for 5 minutes; ' +
      'a new key is published before it signs anything.',
    responses: {
      200: {
        description: 'The JWKS',
        headers: requestIdHeader,
        content: {
          'application/json': {
            schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
          },
        },
      },
    },
  });

  return { submit, batch, status, health, jwks };
}
