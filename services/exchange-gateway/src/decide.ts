// The gateway's exactly-once rules as one pure decision table (DESIGN.md §6).
//
// A delivery is handled by asking `decide(facts)` for the next step, performing that step
// (executor.ts), adding what it learned to the facts and asking again, until a step ends the
// delivery. Nothing here does I/O, reads a clock (the executor passes `now`) or draws random
// numbers, so the rules can be tested exhaustively at in-memory speed, and the tables in the
// package README are rendered from these same rule lists (`renderDecisionTables`).
//
// The rules follow the nonce store's timeline (packages/replay-guard/src/ports.ts):
//
//   claim iss#jti          complete iss#jti (receipt + chain head)
//  ────●──── IN_PROGRESS ────────●──── COMPLETED ─────────▶ redelivery: Republish
//       lease ─────▶│                  other message, same token: REJECTED REPLAYED @msg
//   live: Leave     └ expired: takeover → Reconcile (getOrder by clientOrderIdOf(iss, jti))
//   (last receive: Wait once)             found → the EXECUTED/FAILED receipt it owed
//                                         absent → execute if this delivery verified, else
//                                                  REJECTED <why it no longer verifies> @request
//
// Placing also needs our own lease to outlast the place call: a gateway frozen (SIGSTOP, a GC
// pause, a stalled VM) after its claim may wake after a taker reconciled and answered; it then
// leaves the message to the lease's new owner instead of placing. An UNKNOWN's follow-up
// (decideResolution, under its res# claim) keeps the same rule before its placement.
//
// Expiry is checked once, by the verifier, before the first claim. A delivery that fails
// verification is matched to a claimed request only by the SHA-256 of its exact bytes stored at
// claim time (a claim happens only after verification, so an attacker can neither forge nor burn
// it); such a request's fate is then decided by its record and the exchange: it is reconciled,
// re-published or left, never executed and never answered EXPIRED under the message key.
// Only a request that was never claimed is refused with its verification code, keyed
// `msg#<messageId>`. Placing an order always needs a token that verifies in this very delivery.
//
// Every receipt under the request key names when the request was verified and claimed (the
// record's first claim, kept across takeovers): a receipt signed later than that (a takeover, a
// reconciliation after the token expired) is audited as of that time, not as of its signing.
import type { ReasonCode, RequestClaims, VerificationCode } from '@countersign/contracts';
import { GatewayError } from './errors.ts';
import type { ClaimResult, NonceRecord, StoredReceipt } from '@countersign/replay-guard';
import type { AuthorizationResult, PolicyStamp } from './policy.ts';
import type { ExecResult } from './ports.ts';

/** How often one delivery is handled when NONCE_CONFLICT (our lease taken over, the taker done) restarts it. */
export const MAX_HANDLE_ATTEMPTS = 3;
/** Added to the last-receive wait so the lease has surely run out when we claim again. */
export const LEASE_WAIT_MARGIN_MS = 10;

export type Verification =
  | { readonly ok: true; readonly claims: RequestClaims }
  | { readonly ok: false; readonly code: VerificationCode };

/** The request key's record, read (never claimed) for a token that failed verification. */
export type RequestLookup =
  | { readonly named: false }
  | {
      readonly named: true;
      /** Unverified claims of the token; trustworthy only when `sameToken`. */
      readonly claims: RequestClaims;
      readonly record: NonceRecord | undefined;
      /** The record was claimed for these exact bytes (its stored request hash matches). */
      readonly sameToken: boolean;
    };

export type OrderLookup =
  | { readonly kind: 'found'; readonly result: ExecResult }
  | { readonly kind: 'absent' }
  | { readonly kind: 'timeout' };

export type Placement =
  { readonly kind: 'done'; readonly result: ExecResult } | { readonly kind: 'timeout' };

/** A REJECTED receipt keyed `msg#<messageId>`. */
export interface Refusal {
  readonly reason: ReasonCode;
  readonly detail?: string;
  /** The receipt names the request (iss, jti, sub); else its ids are null. */
  readonly attributed: boolean;
  /** The token travels beside the receipt (not when it is oversized). */
  readonly keepRequest: boolean;
}

export interface DeliveryFacts {
  readonly messageId: string;
  readonly receiveCount: number;
  readonly maxReceives: number;
  readonly now: number;
  readonly leaseMs: number;
  /**
   * How long after place() is called it may still send the order (its deadline, see
   * placeDeadlineOf): our lease must outlast it, or a taker could reconcile before it lands.
   */
  readonly placeMarginMs: number;
  readonly lastReceiveWaitMs: number;
  readonly reconcileDelaySec: number;
  readonly tooLarge: boolean;
  /**
   * The last receive failed (or its FIFO group kept it from running): answer with what exists,
   * else POISON_MESSAGE with this detail.
   */
  readonly poison?: { readonly detail: string };
  readonly verification?: Verification;
  readonly lookup?: RequestLookup;
  /** Poison only: the `msg#<messageId>` record (null: none). */
  readonly messageRecord?: NonceRecord | null;
  /** The claim of the request key `iss#jti`. */
  readonly claim?: ClaimResult;
  /**
   * Epoch ms the request key was first claimed (this delivery's claim, or the record's after a
   * takeover; unknown for records older than the field), set with `claim`.
   */
  readonly claimedAt?: number;
  /**
   * Epoch ms our own claim's lease ends (as last extended), set with `claim` when we hold it;
   * from then on a takeover may reconcile and answer without us.
   */
  readonly leaseUntil?: number;
  readonly waited?: boolean;
  readonly order?: OrderLookup;
  readonly authorization?: AuthorizationResult;
  readonly placement?: Placement;
  readonly refusal?: Refusal;
  /** The claim of `msg#<messageId>` made for `refusal`. */
  readonly messageClaim?: ClaimResult;
}

/** A receipt under the request key names when the request was verified and claimed. */
export interface VerifiedAt {
  /** NumericDate (seconds) of the first claim; absent when the record does not know it. */
  readonly verifiedAt?: number;
}

export type Step =
  | { readonly kind: 'Verify' }
  | { readonly kind: 'Lookup'; readonly key: 'request' | 'message' }
  /** Claim the request key (with this token's hash). */
  | { readonly kind: 'Claim' }
  /** Sleep (on the injected clock), then claim again. */
  | { readonly kind: 'Wait'; readonly ms: number }
  /** Ask the exchange for the order by its client order id. */
  | { readonly kind: 'Reconcile' }
  | { readonly kind: 'Authorize' }
  | { readonly kind: 'Place' }
  /** Claim `msg#<messageId>` for a refusal. */
  | { readonly kind: 'ClaimMessageKey'; readonly refusal: Refusal }
  /** Emit a REJECTED receipt under the message key (refusal) or the held request key. */
  | ({
      readonly kind: 'Reject';
      readonly key: 'request' | 'message';
      readonly reason: ReasonCode;
      readonly detail?: string;
    } & VerifiedAt)
  /** Emit the EXECUTED/FAILED receipt of what the exchange did, under the request key. */
  | ({
      readonly kind: 'EmitExecution';
      readonly result: ExecResult;
      /** 'current': the requester's policy now (a reconciled order was authorized back then). */
      readonly policy: PolicyStamp | 'current';
    } & VerifiedAt)
  /** Emit UNKNOWN EXCHANGE_TIMEOUT under the request key and keep the message to reconcile. */
  | ({
      readonly kind: 'EmitUnknown';
      readonly policy: PolicyStamp | undefined;
      readonly visibilitySec: number;
    } & VerifiedAt)
  /** Re-publish a stored receipt; `followUp`: resolve it now if it is an UNKNOWN. */
  | { readonly kind: 'Republish'; readonly stored: StoredReceipt; readonly followUp: boolean }
  /** IN_PROGRESS: another holder's live lease; LEASE_ENDING: ours ends before place() could. */
  | {
      readonly kind: 'Leave';
      readonly why: 'IN_PROGRESS' | 'LEASE_ENDING';
      readonly visibilitySec: number;
    }
  /** Give the delivery back to the queue (the exchange did not answer a reconciliation). */
  | { readonly kind: 'GiveBack' };

/** One row of a decision table: when `match` finds its datum, `build` makes the step. */
export interface Rule<F, S extends { readonly kind: string }> {
  readonly stage: string;
  readonly when: string;
  readonly step: S['kind'];
  readonly note?: string;
  /** The step if this row applies, else undefined. */
  readonly apply: (f: F) => S | undefined;
}

/** A row builder for one table; the row's declared step kind is checked against what it builds. */
function rowsOf<F, S extends { readonly kind: string }>() {
  return <K extends S['kind'], M>(
    stage: string,
    when: string,
    step: K,
    match: (f: F) => M | undefined | false,
    build: (m: M, f: F) => Extract<S, { readonly kind: K }>,
    note?: string,
  ): Rule<F, S> => ({
    stage,
    when,
    step,
    ...(note === undefined ? {} : { note }),
    apply: (f) => {
      const m = match(f);
      return m === undefined || m === false ? undefined : build(m, f);
    },
  });
}

const row = rowsOf<DeliveryFacts, Step>();

const lastReceive = (f: DeliveryFacts) => f.receiveCount >= f.maxReceives;
const verified = (f: DeliveryFacts) => f.verification?.ok === true;
/** The verification code of a token that failed (the rules only ask when it did). */
const failure = (f: DeliveryFacts) => (f.verification?.ok === false ? f.verification : undefined);
const refused = (c: ClaimResult | undefined) => (c && !c.claimed ? c.existing : undefined);
const inProgress = (r: NonceRecord | null | undefined) =>
  r?.state === 'IN_PROGRESS' ? r : undefined;
const completed = (r: NonceRecord | null | undefined) =>
  r?.state === 'COMPLETED' ? r.stored : undefined;
const completedFor = (r: NonceRecord | null | undefined, messageId: string) => {
  const stored = completed(r);
  return stored?.messageId === messageId ? stored : undefined;
};
/** The request record claimed for these exact bytes, if the lookup found one. */
const sameToken = (f: DeliveryFacts) =>
  f.lookup?.named === true && f.lookup.sameToken ? f.lookup.record : undefined;
const leave = (
  r: { readonly leaseUntil: number },
  now: number,
  why: 'IN_PROGRESS' | 'LEASE_ENDING' = 'IN_PROGRESS',
) =>
  ({
    kind: 'Leave',
    why,
    visibilitySec: Math.max(1, Math.ceil(Math.max(0, r.leaseUntil - now) / 1000)),
  }) as const;
/**
 * Our claim's lease outlasts a place() call begun now (the call may still send the order for
 * placeMarginMs): no taker can reconcile before the order lands. Delivery and resolution alike.
 */
const leaseOutlastsPlace = (f: {
  readonly now: number;
  readonly placeMarginMs: number;
  readonly leaseUntil?: number | undefined;
}): boolean => f.leaseUntil !== undefined && f.now + f.placeMarginMs < f.leaseUntil;
/** The last-receive wait: until the lease ends (bounded), then claim again. */
const waitOut = (leaseUntil: number, f: DeliveryFacts) =>
  ({
    kind: 'Wait',
    ms:
      Math.min(Math.max(0, leaseUntil - f.now), f.leaseMs, f.lastReceiveWaitMs) +
      LEASE_WAIT_MARGIN_MS,
  }) as const;
/**
 * Authorized and about to place, but our lease (as last extended) does not outlast the place
 * call begun now: a taker may already have reconciled, or could before the order lands.
 */
const leaseEnding = (f: DeliveryFacts) =>
  f.authorization?.ok === true &&
  f.placement === undefined &&
  !leaseOutlastsPlace(f) && {
    leaseUntil: f.leaseUntil ?? f.now,
  };
const refuse = (refusal: Refusal) => ({ kind: 'ClaimMessageKey', refusal }) as const;
/** When the held request was verified and claimed, for its receipt (the audit checks it then). */
const verifiedAt = (f: DeliveryFacts): VerifiedAt =>
  f.claimedAt === undefined ? {} : { verifiedAt: Math.floor(f.claimedAt / 1000) };
const republish = (stored: StoredReceipt, followUp: boolean) =>
  ({ kind: 'Republish', stored, followUp }) as const;
const replayed: Refusal = { reason: 'REPLAYED', attributed: true, keepRequest: true };

/** The delivery table: the first row that applies decides the next step. */
export const DELIVERY_RULES: readonly Rule<DeliveryFacts, Step>[] = [
  row(
    'refusal',
    'msg# claimed for the refusal',
    'Reject',
    (f) => f.messageClaim?.claimed === true && f.refusal,
    (r) => ({
      kind: 'Reject',
      key: 'message',
      reason: r.reason,
      ...(r.detail === undefined ? {} : { detail: r.detail }),
    }),
    'the REJECTED receipt, keyed msg#<messageId>',
  ),
  row(
    'refusal',
    'msg# COMPLETED',
    'Republish',
    (f) => completed(refused(f.messageClaim)),
    (stored) => republish(stored, false),
    'this message was answered before',
  ),
  row(
    'refusal',
    'msg# IN_PROGRESS (another delivery is answering it)',
    'Leave',
    (f) => inProgress(refused(f.messageClaim)),
    (r, f) => leave(r, f.now),
  ),
  row(
    'poison',
    'last receive failed; msg# not read yet',
    'Lookup',
    (f) => f.poison !== undefined && f.messageRecord === undefined,
    () => ({ kind: 'Lookup', key: 'message' }),
  ),
  row(
    'poison',
    'msg# COMPLETED',
    'Republish',
    (f) => f.poison !== undefined && completed(f.messageRecord),
    (stored) => republish(stored, false),
  ),
  row(
    'poison',
    'iss#jti not read yet',
    'Lookup',
    (f) => f.poison !== undefined && f.lookup === undefined,
    () => ({ kind: 'Lookup', key: 'request' }),
  ),
  row(
    'poison',
    'iss#jti COMPLETED for this token and this message',
    'Republish',
    (f) => f.poison !== undefined && completedFor(sameToken(f), f.messageId),
    (stored) => republish(stored, false),
  ),
  row(
    'poison',
    'nothing stored for this message',
    'ClaimMessageKey',
    (f) => f.poison,
    (p, f) =>
      refuse({
        reason: 'POISON_MESSAGE',
        detail: p.detail,
        attributed: false,
        keepRequest: !f.tooLarge,
      }),
    'REJECTED POISON_MESSAGE; the queue then moves the message to its DLQ',
  ),
  row(
    'receive',
    'body larger than maxTokenBytes',
    'ClaimMessageKey',
    (f) => f.tooLarge,
    () => refuse({ reason: 'TOKEN_TOO_LARGE', attributed: false, keepRequest: false }),
    'REJECTED TOKEN_TOO_LARGE (the body does not travel with it)',
  ),
  row(
    'receive',
    'not verified yet',
    'Verify',
    (f) => f.verification === undefined,
    () => ({ kind: 'Verify' }),
  ),
  row(
    'unverifiable',
    'verification failed; iss#jti not read yet',
    'Lookup',
    (f) => failure(f) && f.lookup === undefined,
    () => ({ kind: 'Lookup', key: 'request' }),
  ),
  row(
    'unverifiable',
    'no record claimed for these exact bytes (never claimed, or other bytes)',
    'ClaimMessageKey',
    (f) => sameToken(f) === undefined && failure(f),
    (v) => refuse({ reason: v.code, attributed: false, keepRequest: true }),
    'REJECTED with the verification code under msg# (a request never claimed)',
  ),
  row(
    'unverifiable',
    'same bytes, COMPLETED for this message',
    'Republish',
    (f) => failure(f) && completedFor(sameToken(f), f.messageId),
    (stored) => republish(stored, true),
    'and resolve it now if it is an UNKNOWN (never by placing)',
  ),
  row(
    'unverifiable',
    'same bytes, COMPLETED for another message',
    'ClaimMessageKey',
    (f) => failure(f) && completed(sameToken(f)),
    () => refuse(replayed),
    'REJECTED REPLAYED',
  ),
  row(
    'unverifiable',
    'same bytes, IN_PROGRESS, not claimed yet',
    'Claim',
    (f) => failure(f) && f.claim === undefined,
    () => ({ kind: 'Claim' }),
    'a claimed request: it is reconciled, never executed',
  ),
  row(
    'verified',
    'not claimed yet',
    'Claim',
    (f) => f.claim === undefined,
    () => ({ kind: 'Claim' }),
  ),
  row(
    'claim',
    'COMPLETED for this message',
    'Republish',
    (f) => completedFor(refused(f.claim), f.messageId),
    (stored) => republish(stored, true),
    'and resolve it now if it is an UNKNOWN',
  ),
  row(
    'claim',
    'COMPLETED for another message',
    'ClaimMessageKey',
    (f) => completed(refused(f.claim)),
    () => refuse(replayed),
    'REJECTED REPLAYED',
  ),
  row(
    'claim',
    'IN_PROGRESS, live lease, last receive, not waited yet',
    'Wait',
    (f) => lastReceive(f) && f.waited !== true && inProgress(refused(f.claim)),
    (r, f) => waitOut(r.leaseUntil, f),
    'min(lease left, leaseMs, lastReceiveWaitMs), then claim again',
  ),
  row(
    'claim',
    'IN_PROGRESS, live lease',
    'Leave',
    (f) => inProgress(refused(f.claim)),
    (r, f) => leave(r, f.now),
    'visibility = the lease left (at least 1 s)',
  ),
  row(
    'reconcile',
    'held after a takeover, or for bytes that no longer verify; order not looked up',
    'Reconcile',
    (f) => f.claim?.claimed === true && f.order === undefined && (f.claim.takeover || !verified(f)),
    () => ({ kind: 'Reconcile' }),
    'getOrder(clientOrderIdOf(iss, jti))',
  ),
  row(
    'reconcile',
    'the exchange has the order',
    'EmitExecution',
    (f) => (f.order?.kind === 'found' ? f.order.result : undefined),
    (result, f) => ({ kind: 'EmitExecution', result, policy: 'current', ...verifiedAt(f) }),
    'the receipt the first attempt owed, naming when the request was verified and claimed',
  ),
  row(
    'reconcile',
    'the exchange did not answer; the token verified',
    'GiveBack',
    (f) => f.order?.kind === 'timeout' && verified(f),
    () => ({ kind: 'GiveBack' }),
    'the next delivery reconciles again',
  ),
  row(
    'reconcile',
    'the exchange did not answer; the bytes no longer verify',
    'EmitUnknown',
    (f) => f.order?.kind === 'timeout',
    (_, f) => ({
      kind: 'EmitUnknown',
      policy: undefined,
      visibilitySec: f.reconcileDelaySec,
      ...verifiedAt(f),
    }),
  ),
  row(
    'reconcile',
    'order absent; the bytes no longer verify',
    'Reject',
    (f) => f.order?.kind === 'absent' && failure(f),
    (v, f) => ({ kind: 'Reject', key: 'request', reason: v.code, ...verifiedAt(f) }),
    'never placed, and now never will be: REJECTED with the verification code under iss#jti',
  ),
  row(
    'execute',
    'held, the token verified, not authorized yet',
    'Authorize',
    (f) => f.authorization === undefined,
    () => ({ kind: 'Authorize' }),
  ),
  row(
    'execute',
    'the policy refuses',
    'Reject',
    (f) => (f.authorization?.ok === false ? f.authorization : undefined),
    (a, f) => ({
      kind: 'Reject',
      key: 'request',
      reason: a.reason,
      detail: a.detail,
      ...verifiedAt(f),
    }),
    'REJECTED with the policy reason under iss#jti',
  ),
  row(
    'execute',
    'authorized, not placed yet; our lease ends before now + placeMarginMs; last receive, not waited yet',
    'Wait',
    (f) => lastReceive(f) && f.waited !== true && leaseEnding(f),
    (l, f) => waitOut(l.leaseUntil, f),
    'until our lease ends, then claim again (a takeover: reconciled first)',
  ),
  row(
    'execute',
    'authorized, not placed yet; our lease ends before now + placeMarginMs',
    'Leave',
    leaseEnding,
    (l, f) => leave(l, f.now, 'LEASE_ENDING'),
    'never placed, no receipt from this delivery: the next owner of the lease reconciles and decides',
  ),
  row(
    'execute',
    'authorized, not placed yet',
    'Place',
    (f) => f.authorization?.ok === true && f.placement === undefined,
    () => ({ kind: 'Place' }),
    'client order id = clientOrderIdOf(iss, jti)',
  ),
  row(
    'execute',
    'place() timed out',
    'EmitUnknown',
    (f) => f.authorization?.ok === true && f.placement?.kind === 'timeout' && f.authorization,
    (a, f) => ({
      kind: 'EmitUnknown',
      policy: a.policy,
      visibilitySec: f.reconcileDelaySec,
      ...verifiedAt(f),
    }),
    'UNKNOWN EXCHANGE_TIMEOUT; the message is kept for the follow-up',
  ),
  row(
    'execute',
    'the exchange answered',
    'EmitExecution',
    (f) =>
      f.authorization?.ok === true && f.placement?.kind === 'done'
        ? { result: f.placement.result, policy: f.authorization.policy }
        : undefined,
    (p, f) => ({ kind: 'EmitExecution', result: p.result, policy: p.policy, ...verifiedAt(f) }),
    'EXECUTED with the fills, or FAILED EXCHANGE_REJECTED',
  ),
];

/** Thrown when no row applies: a bug in the facts the executor built, never bad input. */
export class NoRuleError extends GatewayError<'INTERNAL'> {
  constructor(table: string) {
    super('INTERNAL', `no ${table} rule applies to these facts`, { details: { table } });
    this.name = 'NoRuleError';
  }
}

/** The index of the first row that applies, and its step. */
export function firstRule<F, S extends { readonly kind: string }>(
  rules: readonly Rule<F, S>[],
  f: F,
  table: string,
): { readonly row: number; readonly step: S } {
  for (let row = 0; row < rules.length; row += 1) {
    const step = rules[row]!.apply(f);
    if (step) return { row, step };
  }
  throw new NoRuleError(table);
}

const first = <F, S extends { readonly kind: string }>(
  rules: readonly Rule<F, S>[],
  f: F,
  table: string,
): S => firstRule(rules, f, table).step;

export function decide(facts: DeliveryFacts): Step {
  return first(DELIVERY_RULES, facts, 'delivery');
}

// --- Resolving an UNKNOWN (the follow-up receipt, keyed res#<unknown receipt jti>) -------------

export interface ResolutionFacts {
  readonly now: number;
  /** As in DeliveryFacts: how long a place() call may still send the order. */
  readonly placeMarginMs: number;
  readonly claim?: ClaimResult;
  /** Epoch ms our res# claim's lease ends, set with `claim` when we hold it. */
  readonly leaseUntil?: number;
  readonly order?: OrderLookup;
  /** The request token verified again, now (asked only when the order is absent). */
  readonly verification?:
    { readonly ok: true } | { readonly ok: false; readonly code: VerificationCode };
  readonly placement?: Placement;
}

export type ResolutionStep =
  | { readonly kind: 'Claim' }
  | { readonly kind: 'Republish'; readonly stored: StoredReceipt }
  /** Not resolved yet: try again later (LEASE_ENDING: our res# lease ends before place() could). */
  | { readonly kind: 'Pending'; readonly why?: 'LEASE_ENDING' }
  | { readonly kind: 'Reconcile' }
  | { readonly kind: 'Verify' }
  | { readonly kind: 'Place' }
  | { readonly kind: 'EmitFollowUp'; readonly result: ExecResult }
  | { readonly kind: 'RejectFollowUp'; readonly reason: VerificationCode };

const res = rowsOf<ResolutionFacts, ResolutionStep>();

export const RESOLUTION_RULES: readonly Rule<ResolutionFacts, ResolutionStep>[] = [
  res(
    'resolve',
    'res# not claimed yet',
    'Claim',
    (r) => r.claim === undefined,
    () => ({ kind: 'Claim' }),
  ),
  res(
    'resolve',
    'res# COMPLETED',
    'Republish',
    (r) => completed(refused(r.claim)),
    (stored) => ({ kind: 'Republish', stored }),
    'resolved before',
  ),
  res(
    'resolve',
    'res# IN_PROGRESS (live lease)',
    'Pending',
    (r) => r.claim?.claimed === false,
    () => ({ kind: 'Pending' }),
  ),
  res(
    'resolve',
    'order not looked up',
    'Reconcile',
    (r) => r.order === undefined,
    () => ({ kind: 'Reconcile' }),
    'getOrder(clientOrderIdOf(iss, jti))',
  ),
  res(
    'resolve',
    'the exchange did not answer',
    'Pending',
    (r) => r.order?.kind === 'timeout',
    () => ({ kind: 'Pending' }),
  ),
  res(
    'resolve',
    'the exchange has the order',
    'EmitFollowUp',
    (r) => (r.order?.kind === 'found' ? r.order.result : undefined),
    (result) => ({ kind: 'EmitFollowUp', result }),
  ),
  res(
    'resolve',
    'order absent; the token not checked again yet',
    'Verify',
    (r) => r.verification === undefined,
    () => ({ kind: 'Verify' }),
  ),
  res(
    'resolve',
    'order absent; the token no longer verifies',
    'RejectFollowUp',
    (r) => (r.verification?.ok === false ? r.verification : undefined),
    (v) => ({ kind: 'RejectFollowUp', reason: v.code }),
    'never placed: REJECTED with the verification code, resolving the UNKNOWN',
  ),
  res(
    'resolve',
    'order absent; the token verifies; not placed yet; our res# lease ends before now + placeMarginMs',
    'Pending',
    (r) => r.placement === undefined && !leaseOutlastsPlace(r),
    () => ({ kind: 'Pending', why: 'LEASE_ENDING' }),
    'never placed, no follow-up: the next pass claims res# again (after the lease a takeover, reconciled first)',
  ),
  res(
    'resolve',
    'order absent; the token verifies; not placed yet',
    'Place',
    (r) => r.placement === undefined,
    () => ({ kind: 'Place' }),
    'same client order id: a late original cannot fill twice',
  ),
  res(
    'resolve',
    'place() timed out',
    'Pending',
    (r) => r.placement?.kind === 'timeout',
    () => ({ kind: 'Pending' }),
  ),
  res(
    'resolve',
    'the exchange answered',
    'EmitFollowUp',
    (r) => (r.placement?.kind === 'done' ? r.placement.result : undefined),
    (result) => ({ kind: 'EmitFollowUp', result }),
  ),
];

export function decideResolution(facts: ResolutionFacts): ResolutionStep {
  return first(RESOLUTION_RULES, facts, 'resolution');
}

// --- When handling a delivery throws -----------------------------------------------------------

export interface FailureFacts {
  /** The error's code (CountersignError), if any. */
  readonly code: string | undefined;
  /** 1 for the first try of this delivery. */
  readonly attempt: number;
  readonly receiveCount: number;
  readonly maxReceives: number;
}

export type FailureStep =
  { readonly kind: 'Retry' } | { readonly kind: 'GiveBack' } | { readonly kind: 'Poison' };

const fail = rowsOf<FailureFacts, FailureStep>();

export const FAILURE_RULES: readonly Rule<FailureFacts, FailureStep>[] = [
  fail(
    'failure',
    `NONCE_CONFLICT and attempt < MAX_HANDLE_ATTEMPTS (${MAX_HANDLE_ATTEMPTS})`,
    'Retry',
    (f) => f.code === 'NONCE_CONFLICT' && f.attempt < MAX_HANDLE_ATTEMPTS,
    () => ({ kind: 'Retry' }),
    'our lease was taken over and the taker finished: start over (idempotent)',
  ),
  fail(
    'failure',
    'not the last receive',
    'GiveBack',
    (f) => f.receiveCount < f.maxReceives,
    () => ({ kind: 'GiveBack' }),
    'rethrow: the queue redelivers',
  ),
  fail(
    'failure',
    'the last receive',
    'Poison',
    () => true,
    () => ({ kind: 'Poison' }),
    'handle again with `poison` set, then leave the message for the DLQ',
  ),
];

export function decideOnFailure(facts: FailureFacts): FailureStep {
  return first(FAILURE_RULES, facts, 'failure');
}

// --- The tables as documentation ---------------------------------------------------------------

interface Row {
  readonly stage: string;
  readonly when: string;
  readonly step: string;
  readonly note?: string;
}

function rows(table: readonly Row[]): string[] {
  return [
    '| # | stage | when | step |',
    '|---:|---|---|---|',
    ...table.map(
      (r, i) =>
        `| ${i + 1} | ${r.stage} | ${r.when} | **${r.step}**${r.note === undefined ? '' : `: ${r.note}`} |`,
    ),
  ];
}

/** The three tables in Markdown, as the package README shows them (the first row that applies wins). */
export function renderDecisionTables(): string {
  return [
    '<!-- prettier-ignore-start -->',
    '**A delivery** (`decide`):',
    '',
    ...rows(DELIVERY_RULES),
    '',
    '**Resolving an UNKNOWN** (`decideResolution`, keyed `res#<unknown receipt jti>`):',
    '',
    ...rows(RESOLUTION_RULES),
    '',
    '**When handling throws** (`decideOnFailure`):',
    '',
    ...rows(FAILURE_RULES),
    '',
    '<!-- prettier-ignore-end -->',
  ].join('\n');
}
