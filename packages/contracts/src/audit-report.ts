// The audit report (JSON output of `countersign audit`): a stable, versioned, machine-readable
// summary plus the list of integrity findings. Finding codes are a closed union: add, never rename.
import { z } from 'zod';
import { Outcomes } from './codes.ts';

/**
 * Every integrity problem audit can report. Any finding makes the audit fail (exit code 3).
 * - BAD_RECEIPT_SIGNATURE: the receipt does not verify with the gateway's keys (tampered, forged
 *   with another key, unknown kid, malformed JWS).
 * - UNTRUSTED_GATEWAY: the receipt is validly signed but its `iss` is not a trusted gateway.
 * - RECEIPT_INVALID: signature fine, claims do not match the receipt schema (or wrong typ).
 * - REQUEST_INVALID: the request token inside a non-REJECTED receipt fails verification as of the
 *   time the gateway verified it (the finding carries the verifier code), or is missing.
 * - REQUEST_HASH_MISMATCH: `req.sha256` is not the SHA-256 of the request token that travelled.
 * - REQUEST_MISMATCH: `req.jti/iss/sub` differ from the request's claims, or its `aud` is not the
 *   receipt's gateway.
 * - OUTSIDE_VALIDITY_WINDOW: the time the gateway verified the request (the receipt's `verifiedAt`,
 *   else its `iat`) lies outside the request's [nbf − skew, exp + skew].
 * - SEQ_GAP: seqs missing in a stream (one finding per missing range).
 * - CHAIN_BROKEN: a receipt's `prev` is not the hash of the previous receipt of its stream.
 * - CONFLICTING_SEQ: two different receipts carry one seq in one stream.
 * - TAIL_TRUNCATED: a signed checkpoint names a seq beyond the last receipt seen.
 * - CHECKPOINT_INVALID: a checkpoint does not verify with the gateway's keys or cannot be parsed.
 * - CHECKPOINT_MISMATCH: the receipt at the checkpoint's seq does not hash to the checkpoint head.
 * - POLICY_VIOLATION: an EXECUTED receipt whose request exceeds (or lacks) the recorded policy.
 * - MALFORMED_EVENT: the bus event is not a ReceiptEventDetail.
 *
 * Exchange reconciliation (`audit reconcile`: the exchange's own record against the receipts):
 * - EXECUTION_WITHOUT_RECEIPT: an order at the exchange with no EXECUTED/FAILED receipt for its
 *   request (or a second order for a request that already has one).
 * - RECEIPT_WITHOUT_EXECUTION: an EXECUTED receipt whose order the exchange does not know.
 * - FILLS_MISMATCH: receipt and exchange disagree on the fills (or on filled vs rejected).
 * - STUCK_IN_PROGRESS: a request still IN_PROGRESS in the nonce store well past its lease.
 *
 * History (issue 14: the audit proves a stream complete from its first receipt to its last):
 * - HISTORY_REWRITTEN: what a previous audit remembered (its last verified receipt of a stream,
 *   or the newest checkpoint it saw) is no longer there with that hash: rewritten, rolled back
 *   or removed.
 * - STREAM_MISSING: a stream known from its checkpoints or from the audit's memory has no
 *   receipt in the archive (in a window: none although the checkpoints show receipts in it).
 * - CHECKPOINT_CHAIN_BROKEN: a stream's checkpoints do not form one chain: an index missing,
 *   a `prevCheckpoint` that does not link, two checkpoints with one index, a seq going back, a
 *   stored checkpoint overwritten, or one the mirror has that the log lost.
 * - EVENT_MISMATCH: the event's unsigned fields disagree with the signed receipt: another
 *   `messageId`, or no request token although the receipt does not say the gateway dropped it
 *   (`req.kept: false`), or one although it does.
 */
export const FindingCodes = {
  BAD_RECEIPT_SIGNATURE: 'BAD_RECEIPT_SIGNATURE',
  UNTRUSTED_GATEWAY: 'UNTRUSTED_GATEWAY',
  RECEIPT_INVALID: 'RECEIPT_INVALID',
  REQUEST_INVALID: 'REQUEST_INVALID',
  REQUEST_HASH_MISMATCH: 'REQUEST_HASH_MISMATCH',
  REQUEST_MISMATCH: 'REQUEST_MISMATCH',
  OUTSIDE_VALIDITY_WINDOW: 'OUTSIDE_VALIDITY_WINDOW',
  SEQ_GAP: 'SEQ_GAP',
  CHAIN_BROKEN: 'CHAIN_BROKEN',
  CONFLICTING_SEQ: 'CONFLICTING_SEQ',
  TAIL_TRUNCATED: 'TAIL_TRUNCATED',
  CHECKPOINT_INVALID: 'CHECKPOINT_INVALID',
  CHECKPOINT_MISMATCH: 'CHECKPOINT_MISMATCH',
  POLICY_VIOLATION: 'POLICY_VIOLATION',
  MALFORMED_EVENT: 'MALFORMED_EVENT',
  // Exchange reconciliation.
  EXECUTION_WITHOUT_RECEIPT: 'EXECUTION_WITHOUT_RECEIPT',
  RECEIPT_WITHOUT_EXECUTION: 'RECEIPT_WITHOUT_EXECUTION',
  FILLS_MISMATCH: 'FILLS_MISMATCH',
  STUCK_IN_PROGRESS: 'STUCK_IN_PROGRESS',
  // History (issue 14): keep these together.
  HISTORY_REWRITTEN: 'HISTORY_REWRITTEN',
  STREAM_MISSING: 'STREAM_MISSING',
  CHECKPOINT_CHAIN_BROKEN: 'CHECKPOINT_CHAIN_BROKEN',
  EVENT_MISMATCH: 'EVENT_MISMATCH',
} as const;
export type FindingCode = (typeof FindingCodes)[keyof typeof FindingCodes];
export const FindingCodeSchema = z.enum(
  Object.values(FindingCodes) as [FindingCode, ...FindingCode[]],
);

export const AUDIT_REPORT_VERSION = 1;

export const Finding = z.strictObject({
  code: FindingCodeSchema,
  /** Null when the event could not be attributed to a stream (malformed, unparseable). */
  stream: z.string().nullable(),
  seq: z.number().int().nullable(),
  /** Receipt id; null when unknown (e.g. a gap). Taken unverified for signature findings. */
  jti: z.string().nullable(),
  message: z.string(),
  /** The verifier's code when a token failed verification (e.g. EXPIRED, BAD_SIGNATURE). */
  verifierCode: z.string().optional(),
});
export type Finding = z.infer<typeof Finding>;

const Count = z.number().int().nonnegative();
/** Exact decimal string (sums of quantity × price). */
const DecimalSum = z.string().regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/);

export const PartyTotals = z.strictObject({
  id: z.string(),
  receipts: Count,
  executed: Count,
  /** Sum of fill quantity × price over EXECUTED receipts, exact. */
  notional: DecimalSum,
});
export type PartyTotals = z.infer<typeof PartyTotals>;

export const TimelineBin = z.strictObject({
  fromSeq: z.number().int(),
  toSeq: z.number().int(),
  /** Receipt times (epoch seconds) of the first and last receipt seen in the bin, if any. */
  fromTime: z.number().int().nullable(),
  toTime: z.number().int().nullable(),
  executed: Count,
  rejected: Count,
  failed: Count,
  unknown: Count,
  missing: Count,
  findings: Count,
});
export type TimelineBin = z.infer<typeof TimelineBin>;

/**
 * How far a stream is proven. The proof starts at `genesis` (seq 1 links to the genesis value),
 * at the head a previous audit `remembered`, at a `checkpoint` signed before the window, or, in
 * a window without such an anchor, at the window's first receipt (`window`); `none`: nothing
 * in the archive. It ends at `endSeq`, the last receipt linked without a gap from the start;
 * `unconfirmed` receipts after the newest checkpoint could still be cut without trace until
 * the next checkpoint (a few seconds' worth).
 */
export const StreamProof = z.strictObject({
  start: z.enum(['genesis', 'remembered', 'checkpoint', 'window', 'none']),
  startSeq: z.number().int().nullable(),
  endSeq: z.number().int().nullable(),
  /** Index of the newest verified checkpoint of the stream's checkpoint chain. */
  checkpointIndex: z.number().int().nullable(),
  unconfirmed: Count,
});
export type StreamProof = z.infer<typeof StreamProof>;

export const StreamSummary = z.strictObject({
  stream: z.string(),
  gateway: z.string(),
  firstSeq: z.number().int().nullable(),
  lastSeq: z.number().int().nullable(),
  receipts: Count,
  missing: Count,
  checkpointSeq: z.number().int().nullable(),
  proof: StreamProof,
  /** ok: contiguous, linked, matches its checkpoint; broken: at least one finding in the stream. */
  status: z.enum(['ok', 'broken']),
  timeline: z.array(TimelineBin),
});
export type StreamSummary = z.infer<typeof StreamSummary>;

export const AuditSource = z.strictObject({
  kind: z.enum([
    'embedded-archive',
    'embedded-live',
    'sqs-live',
    'eventbridge-replay',
    'events',
    'exchange-reconcile',
  ]),
  from: z.iso.datetime().nullable(),
  to: z.iso.datetime().nullable(),
  gateway: z.string().nullable(),
});
export type AuditSource = z.infer<typeof AuditSource>;

export const AuditSummary = z.strictObject({
  /** Events fed to the auditor, including duplicates and malformed ones. */
  events: Count,
  /** Distinct receipts that verified and were placed in their stream. */
  receipts: Count,
  /** Identical re-deliveries of a receipt already seen. */
  duplicates: Count,
  byOutcome: z.strictObject({
    [Outcomes.EXECUTED]: Count,
    [Outcomes.REJECTED]: Count,
    [Outcomes.FAILED]: Count,
    [Outcomes.UNKNOWN]: Count,
  }),
  rejectionsByReason: z.record(z.string(), Count),
  accounts: z.array(PartyTotals),
  requesters: z.array(PartyTotals),
  findingsByCode: z.partialRecord(FindingCodeSchema, Count),
  streams: z.array(StreamSummary),
});
export type AuditSummary = z.infer<typeof AuditSummary>;

/** What an exchange reconciliation compared (present only on `audit reconcile` reports). */
export const ReconciliationSummary = z.strictObject({
  /** Orders the exchange lists as placed in [from, to). */
  exchangeOrders: Count,
  /** Of those, orders matched with the EXECUTED/FAILED receipt of their request. */
  matched: Count,
  /** Orders without a receipt whose request is IN_PROGRESS and not stuck: in flight, not judged. */
  inFlight: Count,
  /** Orders keyed by the bare jti (placed before client order ids were namespaced by issuer). */
  legacyIds: Count,
  /** EXECUTED/FAILED receipts issued in [from, to), each checked against the exchange. */
  receiptsChecked: Count,
  /** IN_PROGRESS records in the nonce store now, and how many of them are past their lease. */
  inProgress: Count,
  stuck: Count,
  /** Receipt events that did not verify: not trusted here (`audit replay` reports them). */
  unverifiedReceipts: Count,
});
export type ReconciliationSummary = z.infer<typeof ReconciliationSummary>;
/** One saved audit state: its save counter and the SHA-256 of its file. */
export const StateRef = z.strictObject({ n: Count, sha256: z.string() });
export type StateRef = z.infer<typeof StateRef>;

/**
 * What the audit remembered before this run and saved after it. `saved.previous` names
 * `loaded`: whoever keeps the reports (CI logs, mail) holds a chain of states an attacker with
 * write access to the data directory cannot rewrite after the fact.
 */
export const AuditMemory = z.strictObject({
  file: z.string(),
  loaded: StateRef.nullable(),
  saved: StateRef.nullable(),
});
export type AuditMemory = z.infer<typeof AuditMemory>;

export const AuditReport = z.strictObject({
  version: z.literal(AUDIT_REPORT_VERSION),
  generatedAt: z.iso.datetime(),
  source: AuditSource,
  /** True when there is no finding at all. */
  clean: z.boolean(),
  summary: AuditSummary,
  findings: z.array(Finding),
  /** Findings counted in `findingsByCode` but left out of `findings` (memory bound). */
  findingsOmitted: Count,
  reconciliation: ReconciliationSummary.optional(),
  /** The audit's memory between runs (absent when the run kept none, e.g. the Lambda). */
  memory: AuditMemory.optional(),
  /** Things the reader should know that are not findings (e.g. nothing to compare against). */
  notes: z.array(z.string()).optional(),
});
export type AuditReport = z.infer<typeof AuditReport>;
