// The effect executor: performs the steps that decide.ts chooses, against the nonce store, the
// exchange, the chain writer and the bus, and feeds what each step learned back as facts. It
// holds no rule of its own; the worker and the Lambda handler both run it (via pipeline.ts).
import {
  clientOrderIdOf,
  NonceKeys,
  partitionOf,
  RequestClaims,
  sleepOn,
  streamOf,
} from '@countersign/contracts';
import type { Clock, ReasonCode, ReceiptClaims } from '@countersign/contracts';
import type {
  ClaimResult,
  NonceRecord,
  NonceStore,
  StoredReceipt,
} from '@countersign/replay-guard';
import type { ReceivedMessage } from '@countersign/transport';
import { decodeUnverified } from '@countersign/verifier';
import type { ChainWriter } from './chain.ts';
import type { Checkpointer } from './checkpoints.ts';
import {
  decide,
  decideResolution,
  type DeliveryFacts,
  type OrderLookup,
  type Placement,
  type RequestLookup,
  type ResolutionFacts,
  type Step,
  type Verification,
} from './decide.ts';
import { exchangeTimeout, isExchangeTimeout } from './errors.ts';
import type { Authorizer, PolicyStamp } from './policy.ts';
import type { Exchange, ExchangeOrder, ExecResult, Logger } from './ports.ts';
import type { ProcessResult } from './pipeline.ts';
import {
  draftFromExecution,
  readOwnReceipt,
  sha256B64u,
  type ReceiptDraft,
  type RequestRef,
} from './receipts.ts';

export interface ExecutorOptions {
  readonly gatewayId: string;
  readonly partitions: number;
  readonly nonceStore: NonceStore;
  readonly exchange: Exchange;
  readonly chain: ChainWriter;
  readonly authorizer: Authorizer;
  readonly clock: Clock;
  /** Must equal the owner the chain writer completes with. */
  readonly owner: string;
  readonly maxTokenBytes: number;
  readonly maxReceives: number;
  readonly clockSkewSec: number;
  readonly leaseMs: number;
  readonly retentionMs: number;
  readonly reconcileDelaySec: number;
  readonly lastReceiveWaitMs: number;
  readonly exchangeTimeoutMs: number | undefined;
  /** Publishes one stored receipt (coalesced with others finishing together). */
  readonly publish: (stored: StoredReceipt) => Promise<void>;
  /** Verifies a request token now (no prefetched result): used before placing a follow-up. */
  readonly verify: (token: string) => Promise<Verification>;
  readonly checkpointer: Checkpointer | undefined;
  readonly logger: Logger;
}

/** An UNKNOWN receipt this process emitted or found, waiting for its follow-up. */
export interface PendingUnknown {
  readonly unknown: ReceiptClaims;
  /** The request's claims: verified, or unverified bytes matched by their claimed hash. */
  readonly claims: RequestClaims;
  readonly request: string | null;
}

export interface Executor {
  /** Handles one delivery; `verification` yields its (maybe prefetched) verification. */
  handle(
    message: ReceivedMessage,
    verification: () => Promise<Verification>,
  ): Promise<ProcessResult>;
  /** The last receive failed: answer with what exists for the message, else POISON_MESSAGE. */
  poison(message: ReceivedMessage, cause: unknown): Promise<ProcessResult>;
  reconcileUnknown(): Promise<number>;
  pendingUnknown(): number;
}

type Deleted = ProcessResult & { readonly action: 'delete' };
type Emitted = Deleted & { readonly receipt: ReceiptClaims };

/** What one delivery learned beyond the facts decide() reads. */
interface Delivery {
  readonly message: ReceivedMessage;
  readonly token: string;
  readonly sha256: string;
  facts: DeliveryFacts;
  /** Its verification (prefetched, or done now). */
  readonly verification: () => Promise<Verification>;
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

function republished(stored: StoredReceipt): Deleted {
  const claims = readOwnReceipt(stored.receipt);
  return {
    action: 'delete',
    receiptId: claims.jti,
    outcome: claims.outcome,
    ...(claims.reason ? { reason: claims.reason as ReasonCode } : {}),
    republished: true,
  };
}

export function createExecutor(o: ExecutorOptions): Executor {
  const { nonceStore, exchange, chain, authorizer, clock, logger } = o;
  const pending = new Map<string, PendingUnknown>();

  const keepUntil = (ms: number) => Math.max(ms, clock.now() + o.retentionMs);
  const streamFor = (key: string) => streamOf(o.gatewayId, partitionOf(key, o.partitions));
  const requestExpiry = (c: RequestClaims) => keepUntil((c.exp + o.clockSkewSec) * 1000);
  const claimKey = (key: string, expiresAt: number, requestSha256?: string) =>
    nonceStore.claim(key, {
      expiresAt,
      leaseMs: o.leaseMs,
      owner: o.owner,
      now: clock.now(),
      ...(requestSha256 === undefined ? {} : { requestSha256 }),
    });
  const orderOf = (c: RequestClaims): ExchangeOrder => ({
    clientOrderId: clientOrderIdOf(c.iss, c.jti),
    account: c.sub,
    txn: c.txn,
  });

  /** Runs an exchange call under the configured deadline (a timeout means "may have happened"). */
  async function withDeadline<T>(
    clientOrderId: string,
    call: (signal?: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (o.exchangeTimeoutMs === undefined) return call();
    // A deadline on real time (an I/O bound), not a read of the injected clock.
    const signal = AbortSignal.timeout(o.exchangeTimeoutMs);
    let stop = (): void => undefined;
    const expired = new Promise<never>((_, reject) => {
      const onAbort = () => reject(exchangeTimeout(clientOrderId));
      signal.addEventListener('abort', onAbort, { once: true });
      stop = () => signal.removeEventListener('abort', onAbort);
    });
    try {
      return await Promise.race([call(signal), expired]);
    } finally {
      stop();
    }
  }

  async function lookupOrder(c: RequestClaims): Promise<OrderLookup> {
    const id = clientOrderIdOf(c.iss, c.jti);
    try {
      const result = await withDeadline(id, (signal) => exchange.getOrder(id, signal));
      return result ? { kind: 'found', result } : { kind: 'absent' };
    } catch (err) {
      if (isExchangeTimeout(err)) return { kind: 'timeout' };
      throw err;
    }
  }

  async function placeOrder(c: RequestClaims): Promise<Placement> {
    const order = orderOf(c);
    try {
      const result = await withDeadline(order.clientOrderId, (signal) =>
        exchange.place(order, signal),
      );
      return { kind: 'done', result };
    } catch (err) {
      if (isExchangeTimeout(err)) return { kind: 'timeout' };
      throw err;
    }
  }

  /** Signs, stores (atomically with the chain head), publishes. */
  async function emit(
    key: string,
    stream: string,
    draft: ReceiptDraft,
    request: string | null,
    expiresAt: number,
  ): Promise<Emitted> {
    const appended = await chain.append({ key, stream, draft, request, expiresAt });
    await o.publish(appended.stored);
    await o.checkpointer?.noteAppended(appended.head);
    logger.info(
      {
        messageId: draft.messageId,
        receiptId: appended.claims.jti,
        outcome: draft.outcome,
        reason: draft.reason,
        stream,
        seq: appended.claims.seq,
      },
      'receipt',
    );
    return {
      action: 'delete',
      receiptId: appended.claims.jti,
      outcome: draft.outcome,
      ...(draft.reason ? { reason: draft.reason } : {}),
      republished: false,
      receipt: appended.claims,
    };
  }

  // --- one delivery ----------------------------------------------------------------------------

  const refOf = (d: Delivery, attributed: boolean): RequestRef =>
    attributed && d.claims
      ? { jti: d.claims.jti, iss: d.claims.iss, sub: d.claims.sub, sha256: d.sha256 }
      : { jti: null, iss: null, sub: null, sha256: d.sha256 };

  /** The request the delivery is about; the rules only ask for it once it is known. */
  const requestOf = (d: Delivery): RequestClaims => {
    if (!d.claims) throw new Error('the delivery has no request claims yet');
    return d.claims;
  };

  async function lookup(d: Delivery, key: 'request' | 'message'): Promise<void> {
    if (key === 'message') {
      const record = await nonceStore.get(NonceKeys.message(d.message.messageId));
      d.facts = { ...d.facts, messageRecord: record ?? null };
      return;
    }
    const claims = unverifiedRequestClaims(d.token);
    let found: RequestLookup = { named: false };
    if (claims) {
      const record = await nonceStore.get(NonceKeys.request(claims.iss, claims.jti));
      const sameToken = claimedForToken(record, d.token, d.sha256);
      if (sameToken) d.claims = claims; // these bytes verified when they were claimed
      found = { named: true, claims, record, sameToken };
    }
    d.facts = { ...d.facts, lookup: found };
  }

  async function claimMessageKey(d: Delivery, step: Step & { kind: 'ClaimMessageKey' }) {
    const claim = await claimKey(NonceKeys.message(d.message.messageId), keepUntil(0));
    d.facts = { ...d.facts, refusal: step.refusal, messageClaim: claim };
  }

  async function reject(d: Delivery, step: Step & { kind: 'Reject' }): Promise<Emitted> {
    const { messageId } = d.message;
    const refusal = d.facts.refusal;
    const onMessage = step.key === 'message';
    const attributed = onMessage ? refusal?.attributed === true : true;
    const draft: ReceiptDraft = {
      req: refOf(d, attributed),
      messageId,
      outcome: 'REJECTED',
      reason: step.reason,
      fills: [],
      ...(step.detail === undefined ? {} : { detail: step.detail }),
    };
    if (onMessage) {
      const stream = streamFor(attributed && d.claims ? d.claims.sub : messageId);
      const request = refusal?.keepRequest === false ? null : d.token;
      return emit(NonceKeys.message(messageId), stream, draft, request, keepUntil(0));
    }
    const c = requestOf(d);
    return emit(
      NonceKeys.request(c.iss, c.jti),
      streamFor(c.sub),
      draft,
      d.token,
      requestExpiry(c),
    );
  }

  async function emitExecution(
    d: Delivery,
    result: ExecResult,
    policy: PolicyStamp | 'current',
  ): Promise<Emitted> {
    const c = requestOf(d);
    const stamp = policy === 'current' ? authorizer.stamp(c.iss) : policy;
    const draft = draftFromExecution(
      { req: refOf(d, true), messageId: d.message.messageId },
      result,
      stamp,
    );
    return emit(
      NonceKeys.request(c.iss, c.jti),
      streamFor(c.sub),
      draft,
      d.token,
      requestExpiry(c),
    );
  }

  async function emitUnknown(
    d: Delivery,
    step: Step & { kind: 'EmitUnknown' },
  ): Promise<ProcessResult> {
    const c = requestOf(d);
    const draft: ReceiptDraft = {
      req: refOf(d, true),
      messageId: d.message.messageId,
      outcome: 'UNKNOWN',
      reason: 'EXCHANGE_TIMEOUT',
      fills: [],
      ...(step.policy ? { policy: step.policy } : {}),
    };
    const key = NonceKeys.request(c.iss, c.jti);
    const unknown = await emit(key, streamFor(c.sub), draft, d.token, requestExpiry(c));
    pending.set(unknown.receiptId, { unknown: unknown.receipt, claims: c, request: d.token });
    logger.warn(
      { messageId: d.message.messageId, receiptId: unknown.receiptId },
      'exchange timeout',
    );
    // Keep the message: its redelivery reconciles even if this process dies.
    return { action: 'leave', why: 'UNRESOLVED', visibilitySec: step.visibilitySec };
  }

  /** Re-publishes, and finishes an UNKNOWN if that is what was stored. */
  async function republish(
    d: Delivery,
    step: Step & { kind: 'Republish' },
  ): Promise<ProcessResult> {
    await o.publish(step.stored);
    const receipt = readOwnReceipt(step.stored.receipt);
    if (!step.followUp || receipt.outcome !== 'UNKNOWN') return republished(step.stored);
    const entry: PendingUnknown = {
      unknown: receipt,
      claims: requestOf(d),
      request: step.stored.request,
    };
    pending.set(receipt.jti, entry);
    const v = d.facts.verification;
    const resolved = await resolve(entry, v ? { verification: v.ok ? { ok: true } : v } : {});
    return resolved ?? { action: 'leave', why: 'UNRESOLVED', visibilitySec: o.reconcileDelaySec };
  }

  /** Performs one step; returns the delivery's result when the step ends it. */
  async function perform(d: Delivery, step: Step): Promise<ProcessResult | undefined> {
    switch (step.kind) {
      case 'Verify': {
        const verification = await d.verification();
        if (verification.ok) d.claims = verification.claims;
        d.facts = { ...d.facts, verification };
        return undefined;
      }
      case 'Lookup':
        await lookup(d, step.key);
        return undefined;
      case 'Claim': {
        const c = requestOf(d);
        const claim: ClaimResult = await claimKey(
          NonceKeys.request(c.iss, c.jti),
          requestExpiry(c),
          d.sha256,
        );
        if (claim.claimed && claim.takeover) {
          logger.warn(
            { messageId: d.message.messageId, attempts: claim.previous.attempts + 1 },
            'lease takeover',
          );
        }
        d.facts = { ...d.facts, claim };
        return undefined;
      }
      case 'Wait':
        await sleepOn(clock, step.ms);
        d.facts = { ...d.facts, waited: true, claim: undefined };
        return undefined;
      case 'Reconcile':
        d.facts = { ...d.facts, order: await lookupOrder(requestOf(d)) };
        return undefined;
      case 'Authorize':
        d.facts = { ...d.facts, authorization: authorizer.authorize(requestOf(d)) };
        return undefined;
      case 'Place':
        d.facts = { ...d.facts, placement: await placeOrder(requestOf(d)) };
        return undefined;
      case 'ClaimMessageKey':
        await claimMessageKey(d, step);
        return undefined;
      case 'Reject':
        return reject(d, step);
      case 'EmitExecution':
        return emitExecution(d, step.result, step.policy);
      case 'EmitUnknown':
        return emitUnknown(d, step);
      case 'Republish':
        return republish(d, step);
      case 'Leave':
        return { action: 'leave', why: step.why, visibilitySec: step.visibilitySec };
      case 'GiveBack': {
        const c = requestOf(d);
        throw exchangeTimeout(clientOrderIdOf(c.iss, c.jti));
      }
    }
  }

  function start(
    message: ReceivedMessage,
    verification: () => Promise<Verification>,
    extra: Partial<DeliveryFacts> = {},
  ): Delivery {
    const token = message.body;
    return {
      message,
      token,
      sha256: sha256B64u(token),
      verification,
      facts: {
        messageId: message.messageId,
        receiveCount: message.receiveCount,
        maxReceives: o.maxReceives,
        now: clock.now(),
        leaseMs: o.leaseMs,
        lastReceiveWaitMs: o.lastReceiveWaitMs,
        reconcileDelaySec: o.reconcileDelaySec,
        tooLarge: Buffer.byteLength(token, 'utf8') > o.maxTokenBytes,
        ...extra,
      },
    };
  }

  async function run(d: Delivery): Promise<ProcessResult> {
    for (;;) {
      d.facts = { ...d.facts, now: clock.now() };
      const done = await perform(d, decide(d.facts));
      if (done) return done;
    }
  }

  // --- the follow-up of an UNKNOWN -----------------------------------------------------------

  /** Resolves an UNKNOWN; undefined while it cannot be resolved yet. */
  async function resolve(
    u: PendingUnknown,
    known: ResolutionFacts = {},
  ): Promise<ProcessResult | undefined> {
    const key = NonceKeys.resolution(u.unknown.jti);
    let r: ResolutionFacts = known;
    for (;;) {
      const step = decideResolution(r);
      switch (step.kind) {
        case 'Claim':
          r = { ...r, claim: await claimKey(key, keepUntil(0)) };
          break;
        case 'Republish':
          pending.delete(u.unknown.jti);
          await o.publish(step.stored);
          return republished(step.stored);
        case 'Pending':
          return undefined;
        case 'Reconcile':
          r = { ...r, order: await lookupOrder(u.claims) };
          break;
        case 'Verify': {
          const v: Verification = u.request
            ? await o.verify(u.request)
            : { ok: false, code: 'MALFORMED' };
          r = { ...r, verification: v.ok ? { ok: true } : v };
          break;
        }
        case 'Place':
          r = { ...r, placement: await placeOrder(u.claims) };
          break;
        case 'EmitFollowUp':
        case 'RejectFollowUp': {
          const base = { req: u.unknown.req, messageId: u.unknown.messageId };
          const draft: ReceiptDraft =
            step.kind === 'EmitFollowUp'
              ? draftFromExecution(
                  base,
                  step.result,
                  u.unknown.policy ?? authorizer.stamp(u.claims.iss),
                  u.unknown.jti,
                )
              : {
                  ...base,
                  outcome: 'REJECTED',
                  reason: step.reason,
                  fills: [],
                  resolves: u.unknown.jti,
                };
          const done = await emit(key, u.unknown.stream, draft, u.request, keepUntil(0));
          pending.delete(u.unknown.jti);
          return done;
        }
      }
    }
  }

  return {
    handle: (message, verification) => run(start(message, verification)),

    async poison(message, cause) {
      const code = (cause as { code?: unknown } | null)?.code;
      logger.error(
        { messageId: message.messageId, receiveCount: message.receiveCount, err: cause },
        'poison message: last receive failed',
      );
      // The poison rows answer from what is stored; they never ask to verify again.
      const noVerify = () => Promise.reject(new Error('a poison message is not verified again'));
      const d = start(message, noVerify, {
        poison: { cause: typeof code === 'string' ? code : undefined },
      });
      try {
        await run(d);
      } catch (err) {
        logger.error({ messageId: message.messageId, err }, 'poison receipt not emitted');
      }
      return { action: 'leave', why: 'POISON' };
    },

    async reconcileUnknown() {
      let resolved = 0;
      for (const entry of [...pending.values()]) {
        try {
          if (await resolve(entry)) resolved += 1;
        } catch (err) {
          logger.warn({ receiptId: entry.unknown.jti, err }, 'reconciliation failed');
        }
      }
      return resolved;
    },

    pendingUnknown: () => pending.size,
  };
}
