// Wire formats of DESIGN.md §3: request token claims, receipt claims, checkpoints, bus events.
import { z } from 'zod';
import { decimalString } from './decimal.ts';
import { GENESIS_PREV, Identifier, Jti, Sha256, STREAM } from './ids.ts';
import { Outcomes, ReasonCodes } from './codes.ts';
import { createTxnSchema, DEFAULT_TXN_PRECISION, type TxnPrecision } from './txn.ts';

export const WIRE_VERSION = 1;
export const TokenTypes = {
  REQUEST: 'txn+jwt',
  RECEIPT: 'txn-receipt+jwt',
  CHECKPOINT: 'txn-checkpoint+jwt',
  /** Batch heads (batch.ts): one signature over the Merkle root of many requests / receipts. */
  REQUEST_BATCH: 'txn-batch+jwt',
  RECEIPT_BATCH: 'txn-receipt-batch+jwt',
} as const;
export type TokenType = (typeof TokenTypes)[keyof typeof TokenTypes];

export const Algorithms = ['RS256', 'PS256', 'ES256', 'ES384'] as const;
export type Algorithm = (typeof Algorithms)[number];
export const AlgorithmSchema = z.enum(Algorithms, {
  error: 'must be one of RS256, PS256, ES256, ES384',
});

/** Token lifetimes: default 60 s, never more than 300 s. */
export const DEFAULT_LIFETIME_SEC = 60;
export const MAX_LIFETIME_SEC = 300;

const NumericDate = z.number().int().nonnegative().max(253402300799);

export function createRequestClaimsSchema(precision: TxnPrecision = DEFAULT_TXN_PRECISION) {
  return z.strictObject({
    iss: Identifier,
    sub: Identifier,
    aud: Identifier,
    iat: NumericDate,
    nbf: NumericDate,
    exp: NumericDate,
    jti: Jti,
    txn: createTxnSchema(precision),
  });
}
export const RequestClaims = createRequestClaimsSchema();
export type RequestClaims = z.infer<typeof RequestClaims>;

export const Fill = z.strictObject({
  quantity: decimalString({ intDigits: 12, fracDigits: 8 }),
  price: decimalString({ intDigits: 12, fracDigits: 8 }),
});
export type Fill = z.infer<typeof Fill>;

export const OutcomeSchema = z.enum([
  Outcomes.EXECUTED,
  Outcomes.REJECTED,
  Outcomes.FAILED,
  Outcomes.UNKNOWN,
]);
export const ReasonCodeSchema = z.enum(Object.values(ReasonCodes) as [string, ...string[]]);

/** A stream is `<gatewayId>/<partition>`. */
export const StreamId = z.string().regex(STREAM, 'must be "<gatewayId>/<partition>"');

export const ReceiptClaims = z
  .strictObject({
    v: z.literal(WIRE_VERSION),
    iss: Identifier,
    iat: NumericDate,
    jti: Jti,
    /** What was asked. Null ids when the token never verified (then `messageId` keys it). */
    req: z.strictObject({
      jti: Jti.nullable(),
      iss: Identifier.nullable(),
      sub: Identifier.nullable(),
      sha256: Sha256,
      /**
       * `false`: the gateway did not keep the request token (too large, or unreadable), so the
       * event carries none. Absent: the event must carry the token that hashes to `sha256`.
       */
      kept: z.literal(false).optional(),
    }),
    messageId: z.string().min(1).max(128),
    outcome: OutcomeSchema,
    reason: ReasonCodeSchema.optional(),
    /** Free text for humans; never a token or a secret. */
    detail: z.string().max(256).optional(),
    fills: z.array(Fill).max(100),
    /** The policy that authorized an EXECUTED order (audit re-checks it). */
    policy: z
      .strictObject({
        version: Sha256,
        maxNotional: decimalString({ intDigits: 20, fracDigits: 16 }),
      })
      .optional(),
    /** Receipt id of an UNKNOWN receipt this one resolves. */
    resolves: Jti.optional(),
    /**
     * When the gateway verified the request and claimed it, if that was before this receipt was
     * signed: a request claimed on an earlier delivery and receipted later (a takeover after a
     * crash, a redelivery whose token expired meanwhile, an UNKNOWN's follow-up). The request's
     * validity window is checked as of this time; never after `iat`.
     */
    verifiedAt: NumericDate.optional(),
    stream: StreamId,
    seq: z.number().int().min(1),
    prev: Sha256,
  })
  .refine((r) => (r.outcome === 'EXECUTED') === (r.reason === undefined), {
    message: 'reason is required exactly when outcome is not EXECUTED',
    path: ['reason'],
  })
  .refine((r) => r.verifiedAt === undefined || r.verifiedAt <= r.iat, {
    message: 'verifiedAt must not be after iat',
    path: ['verifiedAt'],
  });
export type ReceiptClaims = z.infer<typeof ReceiptClaims>;

/**
 * Signed by the gateway every N receipts and every T seconds while a stream is active, stored
 * outside the bus: catches tail truncation. The checkpoints of a stream form their own hash
 * chain (`index` 1, 2, 3… without gaps, `prevCheckpoint` = sha256 of the previous checkpoint
 * token, the genesis value for index 1), so one removed from the middle shows, and an audit that
 * remembers the newest it saw catches a rolled-back log.
 */
export const CheckpointClaims = z
  .strictObject({
    v: z.literal(WIRE_VERSION),
    iss: Identifier,
    iat: NumericDate,
    stream: StreamId,
    /** The stream's head when signed: its last receipt's seq (0: none yet) and hash. */
    seq: z.number().int().min(0),
    head: Sha256,
    index: z.number().int().min(1),
    prevCheckpoint: Sha256,
  })
  .refine((c) => (c.index === 1) === (c.prevCheckpoint === GENESIS_PREV), {
    message: 'prevCheckpoint is the genesis value exactly for index 1',
    path: ['prevCheckpoint'],
  });
export type CheckpointClaims = z.infer<typeof CheckpointClaims>;

export const EVENT_SOURCE = 'countersign.gateway';
export const EVENT_DETAIL_TYPE = 'TransactionReceipt';
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * W3C trace context (traceparent, tracestate) of the transaction, beside the signed tokens and
 * never inside them: it is unauthenticated and only links spans.
 */
export const TraceContext = z.strictObject({
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
  tracestate: z.string().max(512).optional(),
});
export type TraceContext = z.infer<typeof TraceContext>;

/** EventBridge `detail` of a receipt event. Keep ≤ 256 KB. */
export const ReceiptEventDetail = z.strictObject({
  /** A compact JWS, or a batch item (JSON text, batch.ts) when receipts are batched. */
  receipt: z
    .string()
    .max(16_384)
    .refine(
      (t) => COMPACT_JWS.test(t) || t.startsWith('{'),
      'must be a compact JWS or a batch item',
    ),
  request: z.string().max(65_536).nullable(),
  messageId: z.string().min(1).max(128),
  /** Trace context of the gateway's handling (absent when tracing is off). */
  trace: TraceContext.optional(),
});
export type ReceiptEventDetail = z.infer<typeof ReceiptEventDetail>;
