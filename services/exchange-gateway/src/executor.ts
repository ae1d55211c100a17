// The effect executor: performs the steps decide.ts chooses for one delivery, against the nonce
// store, the exchange (exchange-calls.ts), the chain writer and the bus (emitter.ts), and feeds
// what each step learned back as facts. It holds no rule of its own; the worker and the Lambda
// handler both run it (via pipeline.ts). UNKNOWN follow-ups are unknowns.ts.
import {
  clientOrderIdOf,
  errorCodeOf,
  NonceKeys,
  partitionOf,
  RequestClaims,
  sleepOn,
  streamOf,
} from '@countersign/contracts';
import type { ClaimResult, NonceRecord, StoredReceipt } from '@countersign/replay-guard';
import type { ReceivedMessage } from '@countersign/transport';
import { decodeUnverified } from '@countersign/verifier';
import type { Checkpointer } from './checkpoints.ts';
import { decide, type DeliveryFacts, type Step, type Verification } from './decide.ts';
import { createReceiptEmitter, type Emitted, type ReceiptEmitter } from './emitter.ts';
import { exchangeTimeout, GatewayError } from './errors.ts';
import { createExchangeCalls, placeDeadlineOf, type ExchangeCalls } from './exchange-calls.ts';
import type { ProcessorOptions, ProcessResult } from './pipeline.ts';
import type { Logger } from './ports.ts';
import {
  draftFromExecution,
  readOwnReceipt,
  sha256B64u,
  type ReceiptDraft,
  type RequestRef,
} from './receipts.ts';
import { createUnknowns, type Unknowns } from './unknowns.ts';

/** The processor's options with its defaults applied, plus what the processor builds. */
export type ExecutorOptions = Pick<
  ProcessorOptions,
  | 'gatewayId'
  | 'partitions'
  | 'nonceStore'
  | 'exchange'
  | 'chain'
  | 'authorizer'
  | 'clock'
  | 'owner'
  | 'maxTokenBytes'
  | 'maxReceives'
  | 'clockSkewSec'
  | 'leaseMs'
  | 'exchangeTimeoutMs'
  | 'metrics'
> & {
  readonly retentionMs: number;
  readonly reconcileDelaySec: number;
  readonly lastReceiveWaitMs: number;
  /** Publishes one stored receipt (coalesced with others finishing together). */
  readonly publish: (stored: StoredReceipt) => Promise<void>;
  /** Verifies a request token now (no prefetched result): used before placing a follow-up. */
  readonly verify: (token: string) => Promise<Verification>;
  readonly checkpointer: Checkpointer | undefined;
  readonly logger: Logger;
};

export interface Executor {
  /** Handles one delivery; `verification` yields its (maybe prefetched) verification. */
  handle(
    message: ReceivedMessage,
    verification: () => Promise<Verification>,
  ): Promise<ProcessResult>;
  /** The last receive failed: answer with what exists for the message, else POISON_MESSAGE. */
  poison(message: ReceivedMessage, cause: unknown): Promise<ProcessResult>;
  /** The last receive of a message its FIFO group kept from running: answered like poison. */
  blocked(message: ReceivedMessage): Promise<ProcessResult>;
  reconcileUnknown(): Promise<number>;
  pendingUnknown(): number;
}

/** One delivery: the facts decide() reads, and what the steps need beyond them. */
interface Delivery {
  readonly message: ReceivedMessage;
  readonly token: string;
  readonly sha256: string;
  /** Its verification (prefetched, or done now). */
  readonly verification: () => Promise<Verification>;
  /** Only the executor writes them (one object per delivery, changed in place); decide() reads. */
  readonly facts: { -readonly [K in keyof DeliveryFacts]: DeliveryFacts[K] };
  /** The request the delivery is about, once known (verified, or matched by its hash). */
  claims?: RequestClaims;
}

/** Unverified request claims from a token's payload (schema-checked), or undefined. */
function unverifiedRequestClaims(token: string): RequestClaims | undefined {
  const parsed = RequestClaims.safeParse(decodeUnverified(token));
  return parsed.success ? parsed.data : undefined;
}

/** True when `record` was claimed for these exact bytes (older records: a stored byte match). */
function claimedForToken(record: NonceRecord | undefined, token: string, sha256: string): boolean {
  if (!record) return false;
  if (record.requestSha256 !== undefined) return record.requestSha256 === sha256;
  return record.state === 'COMPLETED' && record.stored.request === token;
}

/** The request a step works on; the rules only ask for one once it is known. */
function requestOf(d: Delivery): RequestClaims {
  if (!d.claims) {
    throw new GatewayError('INTERNAL', 'no request claims yet: the facts and the rules disagree');
  }
  return d.claims;
}

/** What the steps share: the options, the adapters' wrappers and the key/expiry helpers. */
interface Ctx {
  readonly o: ExecutorOptions;
  readonly exchange: ExchangeCalls;
  readonly emitter: ReceiptEmitter;
  readonly unknowns: Unknowns;
  /** How long a place() call may still send the order (placeDeadlineOf). */
  readonly placeMarginMs: number;
  /** `now`: the claim's time (a first claim records it as the record's claimedAt). */
  claim(key: string, expiresAt: number, requestSha256?: string, now?: number): Promise<ClaimResult>;
  /** Keep a record until `ms` or the receipt retention, whichever is later. */
  keepUntil(ms?: number): number;
  streamFor(key: string): string;
}

const requestKey = (c: RequestClaims) => NonceKeys.request(c.iss, c.jti);
const requestExpiry = (x: Ctx, c: RequestClaims) => x.keepUntil((c.exp + x.o.clockSkewSec) * 1000);
const refOf = (d: Delivery, attributed: boolean): RequestRef =>
  attributed && d.claims
    ? { jti: d.claims.jti, iss: d.claims.iss, sub: d.claims.sub, sha256: d.sha256 }
    : { jti: null, iss: null, sub: null, sha256: d.sha256 };

/** A receipt under the held request key, the token beside it. */
function emitForRequest(x: Ctx, d: Delivery, draft: ReceiptDraft): Promise<Emitted> {
  const c = requestOf(d);
  return x.emitter.emit(requestKey(c), x.streamFor(c.sub), draft, d.token, requestExpiry(x, c));
}

async function lookup(
  x: Ctx,
  d: Delivery,
  key: 'request' | 'message',
): Promise<Partial<DeliveryFacts>> {
  if (key === 'message') {
    const record = await x.o.nonceStore.get(NonceKeys.message(d.message.messageId));
    return { messageRecord: record ?? null };
  }
  const claims = unverifiedRequestClaims(d.token);
  if (!claims) return { lookup: { named: false } };
  const record = await x.o.nonceStore.get(requestKey(claims));
  const sameToken = claimedForToken(record, d.token, d.sha256);
  if (sameToken) d.claims = claims; // these very bytes verified when they were claimed
  return { lookup: { named: true, claims, record, sameToken } };
}

function reject(x: Ctx, d: Delivery, step: Extract<Step, { kind: 'Reject' }>): Promise<Emitted> {
  const { messageId } = d.message;
  const refusal = step.key === 'message' ? d.facts.refusal : undefined;
  const attributed = step.key === 'request' || refusal?.attributed === true;
  const draft: ReceiptDraft = {
    req: refOf(d, attributed),
    messageId,
    outcome: 'REJECTED',
    reason: step.reason,
    fills: [],
    ...(step.detail === undefined ? {} : { detail: step.detail }),
    ...(step.verifiedAt === undefined ? {} : { verifiedAt: step.verifiedAt }),
  };
  if (step.key === 'request') return emitForRequest(x, d, draft);
  const stream = x.streamFor(attributed && d.claims ? d.claims.sub : messageId);
  const request = refusal?.keepRequest === false ? null : d.token;
  return x.emitter.emit(NonceKeys.message(messageId), stream, draft, request, x.keepUntil());
}

async function emitUnknown(
  x: Ctx,
  d: Delivery,
  step: Extract<Step, { kind: 'EmitUnknown' }>,
): Promise<ProcessResult> {
  const unknown = await emitForRequest(x, d, {
    req: refOf(d, true),
    messageId: d.message.messageId,
    outcome: 'UNKNOWN',
    reason: 'EXCHANGE_TIMEOUT',
    fills: [],
    ...(step.policy ? { policy: step.policy } : {}),
    ...(step.verifiedAt === undefined ? {} : { verifiedAt: step.verifiedAt }),
  });
  x.unknowns.add({ unknown: unknown.receipt, claims: requestOf(d), request: d.token });
  x.o.logger.warn(
    { messageId: d.message.messageId, receiptId: unknown.receiptId },
    'exchange timeout',
  );
  // Keep the message: its redelivery reconciles even if this process dies.
  return { action: 'leave', why: 'UNRESOLVED', visibilitySec: step.visibilitySec };
}

/** Re-publishes; an UNKNOWN is then resolved now if it can be (with what this delivery knows). */
async function republish(
  x: Ctx,
  d: Delivery,
  step: Extract<Step, { kind: 'Republish' }>,
): Promise<ProcessResult> {
  const again = await x.emitter.republish(step.stored);
  const receipt = readOwnReceipt(step.stored.receipt);
  if (!step.followUp || receipt.outcome !== 'UNKNOWN') return again;
  const entry = { unknown: receipt, claims: requestOf(d), request: step.stored.request };
  x.unknowns.add(entry);
  const v = d.facts.verification;
  const resolved = await x.unknowns.resolve(
    entry,
    v ? { verification: v.ok ? { ok: true } : v } : {},
  );
  return resolved ?? { action: 'leave', why: 'UNRESOLVED', visibilitySec: x.o.reconcileDelaySec };
}

/** Performs one step: the facts it learned, or the delivery's result when the step ends it. */
async function perform(
  x: Ctx,
  d: Delivery,
  step: Step,
): Promise<Partial<DeliveryFacts> | ProcessResult> {
  const { authorizer, logger } = x.o;
  switch (step.kind) {
    case 'Verify': {
      const verification = await d.verification();
      if (verification.ok) d.claims = verification.claims;
      return { verification };
    }
    case 'Lookup':
      return lookup(x, d, step.key);
    case 'Claim': {
      const c = requestOf(d);
      const now = x.o.clock.now();
      const claim = await x.claim(requestKey(c), requestExpiry(x, c), d.sha256, now);
      if (claim.claimed && claim.takeover) {
        logger.warn(
          { messageId: d.message.messageId, previous: claim.previous.owner },
          'lease takeover',
        );
      }
      // When the request was verified and claimed: now, or the first claim's time (a takeover).
      const claimedAt = claim.claimed
        ? claim.takeover
          ? claim.previous.claimedAt
          : now
        : undefined;
      // The store set our lease from the same inputs (now + leaseMs): no read needed. Nothing
      // extends a nonce lease today (the heartbeat extends queue visibility); one that did would
      // set leaseUntil here as it extends.
      const leaseUntil = claim.claimed ? now + x.o.leaseMs : undefined;
      return { claim, claimedAt, leaseUntil };
    }
    case 'Wait':
      await sleepOn(x.o.clock, step.ms);
      // Claim again; a takeover (of our own lapsed lease too) reconciles again.
      return { waited: true, claim: undefined, leaseUntil: undefined, order: undefined };
    case 'Reconcile':
      return { order: await x.exchange.lookup(requestOf(d)) };
    case 'Authorize':
      return { authorization: authorizer.authorize(requestOf(d)) };
    case 'Place':
      return { placement: await x.exchange.place(requestOf(d)) };
    case 'ClaimMessageKey': {
      const messageClaim = await x.claim(NonceKeys.message(d.message.messageId), x.keepUntil());
      return { refusal: step.refusal, messageClaim };
    }
    case 'Reject':
      return reject(x, d, step);
    case 'EmitExecution': {
      const policy = step.policy === 'current' ? authorizer.stamp(requestOf(d).iss) : step.policy;
      const base = {
        req: refOf(d, true),
        messageId: d.message.messageId,
        ...(step.verifiedAt === undefined ? {} : { verifiedAt: step.verifiedAt }),
      };
      return emitForRequest(x, d, draftFromExecution(base, step.result, policy));
    }
    case 'EmitUnknown':
      return emitUnknown(x, d, step);
    case 'Republish':
      return republish(x, d, step);
    case 'Leave':
      if (step.why === 'LEASE_ENDING') {
        logger.warn(
          { messageId: d.message.messageId, leaseUntil: d.facts.leaseUntil },
          'lease ends before place() could: not placed, left for the lease owner',
        );
      }
      return { action: 'leave', why: step.why, visibilitySec: step.visibilitySec };
    case 'GiveBack': {
      const c = requestOf(d);
      throw exchangeTimeout(clientOrderIdOf(c.iss, c.jti));
    }
  }
}

const isResult = (r: Partial<DeliveryFacts> | ProcessResult): r is ProcessResult => 'action' in r;

/** Asks decide() for a step, performs it, learns, until a step ends the delivery. */
async function run(
  x: Ctx,
  message: ReceivedMessage,
  verification: () => Promise<Verification>,
  extra: Partial<DeliveryFacts> = {},
): Promise<ProcessResult> {
  const { o } = x;
  const token = message.body;
  const d: Delivery = {
    message,
    token,
    sha256: sha256B64u(token),
    verification,
    facts: {
      messageId: message.messageId,
      receiveCount: message.receiveCount,
      maxReceives: o.maxReceives,
      now: o.clock.now(),
      leaseMs: o.leaseMs,
      placeMarginMs: x.placeMarginMs,
      lastReceiveWaitMs: o.lastReceiveWaitMs,
      reconcileDelaySec: o.reconcileDelaySec,
      tooLarge: Buffer.byteLength(token, 'utf8') > o.maxTokenBytes,
      ...extra,
    },
  };
  for (;;) {
    d.facts.now = o.clock.now();
    const outcome = await perform(x, d, decide(d.facts));
    if (isResult(outcome)) return outcome;
    Object.assign(d.facts, outcome);
  }
}

const BLOCKED_DETAIL =
  'not run: an earlier message of its FIFO group was not done by its last receive';

/** A message the queue moves to its DLQ next: what exists for it, else POISON_MESSAGE. */
async function lastWord(
  x: Ctx,
  message: ReceivedMessage,
  detail: string | undefined,
): Promise<ProcessResult> {
  // The poison rows answer from what is stored; they never ask to verify again.
  const noVerify = () =>
    Promise.reject(new GatewayError('INTERNAL', 'a poison message is not verified again'));
  try {
    await run(x, message, noVerify, { poison: { detail: detail ?? 'processing failed' } });
  } catch (err) {
    x.o.logger.error({ messageId: message.messageId, err }, 'poison receipt not emitted');
  }
  return { action: 'leave', why: 'POISON' };
}

export function createExecutor(o: ExecutorOptions): Executor {
  const { clock, logger } = o;
  const keepUntil = (ms = 0) => Math.max(ms, clock.now() + o.retentionMs);
  const claim = (key: string, expiresAt: number, requestSha256?: string, now = clock.now()) =>
    o.nonceStore.claim(key, {
      expiresAt,
      leaseMs: o.leaseMs,
      owner: o.owner,
      now,
      ...(requestSha256 === undefined ? {} : { requestSha256 }),
    });
  const exchange = createExchangeCalls(o.exchange, o.exchangeTimeoutMs);
  const emitter = createReceiptEmitter(o);
  const placeMarginMs = placeDeadlineOf(o.exchange, o.exchangeTimeoutMs);
  const unknowns = createUnknowns({
    claim: (key, expiresAt, now) => claim(key, expiresAt, undefined, now),
    clock,
    leaseMs: o.leaseMs,
    placeMarginMs,
    keepUntil,
    exchange,
    emitter,
    authorizer: o.authorizer,
    verify: o.verify,
    logger,
  });
  const x: Ctx = {
    o,
    exchange,
    emitter,
    unknowns,
    placeMarginMs,
    claim,
    keepUntil,
    streamFor: (key) => streamOf(o.gatewayId, partitionOf(key, o.partitions)),
  };

  return {
    handle: (message, verification) => run(x, message, verification),

    poison(message, cause) {
      const code = errorCodeOf(cause);
      logger.error(
        { messageId: message.messageId, receiveCount: message.receiveCount, err: cause },
        'poison message: last receive failed',
      );
      return lastWord(x, message, code === undefined ? undefined : `failed with ${code}`);
    },

    blocked(message) {
      logger.warn(
        { messageId: message.messageId, receiveCount: message.receiveCount },
        'last receive spent waiting behind its FIFO group: answered, left for the DLQ',
      );
      return lastWord(x, message, BLOCKED_DETAIL);
    },

    reconcileUnknown: () => unknowns.reconcile(),
    pendingUnknown: () => unknowns.size(),
  };
}
