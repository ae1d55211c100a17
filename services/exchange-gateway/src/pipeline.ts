// The per-message pipeline (DESIGN.md §1, §6). Every message that reaches the gateway ends in
// exactly one receipt, and an order is executed at most once, whatever crashes when.
//
//   size limit → verify (local keys, zero KMS calls) → claim `iss#jti` (only after verification)
//   → authorize (requester policy) → execute once (client order id = jti) → sign the receipt
//   → complete (receipt + chain head, one atomic write) → publish → delete the message
//
// Deliberate difference from the order: the nonce record is completed (receipt stored,
// stream head advanced) BEFORE publishing. A seq must never be handed out twice; had we
// published first and crashed before advancing the head, a restart would mint a second,
// conflicting receipt for the same seq. Completing first, a crash between complete and
// publish is healed by the redelivery: it finds COMPLETED and re-publishes the stored receipt
// (consumers dedupe by receipt jti). The message is deleted only after the publish succeeded.
//
// Keys in the nonce store:
//   iss#jti         a verified request (claimed before anything is executed)
//   msg#<messageId> a message refused before or without its own request key (bad token,
//                   replay, poison): a redelivery re-publishes that receipt instead of a new one
//   res#<receipt>   the follow-up receipt that resolves an UNKNOWN (exchange timeout)
import { randomUUID } from 'node:crypto';
import { RequestClaims } from '@countersign/contracts';
import type { Clock, Outcome, ReasonCode, ReceiptClaims } from '@countersign/contracts';
import type { NonceRecord, NonceStore, StoredReceipt } from '@countersign/replay-guard';
import type { EventBus, ReceivedMessage } from '@countersign/transport';
import type { ChainWriter } from './chain.ts';
import type { Checkpointer } from './checkpoints.ts';
import { createCoalescingPublisher } from './publisher.ts';
import { exchangeTimeout, hasCode, isExchangeTimeout, verificationCodeOf } from './errors.ts';
import type { Authorizer, PolicyStamp } from './policy.ts';
import {
  silentLogger,
  type Exchange,
  type ExchangeOrder,
  type ExecResult,
  type Logger,
} from './ports.ts';
import {
  draftFromExecution,
  partitionOf,
  readOwnReceipt,
  sha256B64u,
  streamOf,
  type ReceiptDraft,
  type RequestRef,
} from './receipts.ts';

/** What the pipeline needs from a verifier: verified request claims, or a VerificationError. */
export interface RequestVerifier {
  verify(token: string): Promise<{ readonly claims: RequestClaims }>;
}

export interface ProcessorOptions {
  readonly gatewayId: string;
  /** P: streams `<gatewayId>/0 … <gatewayId>/P-1`. */
  readonly partitions: number;
  readonly verifier: RequestVerifier;
  readonly nonceStore: NonceStore;
  readonly exchange: Exchange;
  readonly bus: EventBus;
  readonly chain: ChainWriter;
  readonly authorizer: Authorizer;
  readonly clock: Clock;
  /** Must equal the owner the chain writer completes with. */
  readonly owner: string;
  readonly maxTokenBytes: number;
  /** The queue's last receive (receiveCount ≥ this): a failure then yields POISON_MESSAGE. */
  readonly maxReceives: number;
  readonly clockSkewSec: number;
  /** Lease of an IN_PROGRESS claim; a later claimer takes over (and reconciles) after it. */
  readonly leaseMs: number;
  /** How long completed records stay (≥ any possible redelivery). Default 14 days (SQS max retention). */
  readonly receiptRetentionSec?: number;
  /** Visibility of a message left after an UNKNOWN receipt, until its reconciliation. Default 5 s. */
  readonly reconcileDelaySec?: number;
  /** place() taking longer reports EXCHANGE_TIMEOUT (the order may exist). Default none. */
  readonly exchangeTimeoutMs?: number;
  readonly checkpointer?: Checkpointer;
  readonly logger?: Logger;
  /**
   * On the last receive, how long to wait for another holder's lease before leaving the message
   * (keep it under the Lambda timeout). Default 10 s.
   */
  readonly lastReceiveWaitMs?: number;
  /** Receipt events of messages finishing together go out in one publish call. Default 10. */
  readonly publishBatchMax?: number;
}

export type ProcessResult =
  | {
      readonly action: 'delete';
      readonly receiptId: string;
      readonly outcome: Outcome;
      readonly reason?: ReasonCode;
      /** True when an already stored receipt was re-published. */
      readonly republished: boolean;
    }
  | {
      readonly action: 'leave';
      /** IN_PROGRESS elsewhere, an UNKNOWN not resolved yet, or a poison message bound for the DLQ. */
      readonly why: 'IN_PROGRESS' | 'UNRESOLVED' | 'POISON';
      /** Suggested visibility before the next delivery. */
      readonly visibilitySec?: number;
    };

export interface Processor {
  /** Resolves with what to do with the message; throws when it should simply be retried. */
  process(message: ReceivedMessage): Promise<ProcessResult>;
  /**
   * Starts verifying these messages now, so one waiting behind earlier messages of its group is
   * verified (on the thread pool, in parallel) by the time its turn comes. Optional to call.
   */
  prefetch(messages: readonly ReceivedMessage[]): void;
  /** Resolves the UNKNOWN receipts this process emitted; returns how many were resolved. */
  reconcileUnknown(): Promise<number>;
  pendingUnknown(): number;
  /** Writes final checkpoints. */
  close(): Promise<void>;
}

interface PendingUnknown {
  readonly unknown: ReceiptClaims;
  readonly claims: RequestClaims;
  readonly request: string | null;
}

const DAY_MS = 86_400_000;
/** A prefetched verification older than this is done again (the clock moved on). */
const PREFETCH_FRESH_MS = 1000;

type Verification =
  | { readonly ok: true; readonly claims: RequestClaims }
  | { readonly ok: false; readonly err: unknown };

export function newOwnerId(gatewayId: string): string {
  return `${gatewayId}:${randomUUID()}`;
}

function unverifiedRequestClaims(token: string): RequestClaims | undefined {
  try {
    const payload = token.split('.')[1];
    if (!payload) return undefined;
    const parsed = RequestClaims.safeParse(
      JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
    );
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function createProcessor(options: ProcessorOptions): Processor {
  const {
    gatewayId,
    partitions,
    verifier,
    nonceStore,
    exchange,
    bus,
    chain,
    authorizer,
    clock,
    owner,
    leaseMs,
  } = options;
  const logger = options.logger ?? silentLogger;
  const retentionMs =
    options.receiptRetentionSec === undefined ? 14 * DAY_MS : options.receiptRetentionSec * 1000;
  const reconcileDelaySec = options.reconcileDelaySec ?? 5;
  const pending = new Map<string, PendingUnknown>();
  // Prefetched verifications by receipt handle (one delivery), oldest first.
  const prefetched = new Map<
    string,
    { readonly at: number; readonly result: Promise<Verification> }
  >();

  const verifyNow = (token: string): Promise<Verification> => {
    try {
      return verifier.verify(token).then(
        (v): Verification => ({ ok: true, claims: v.claims }),
        (err: unknown): Verification => ({ ok: false, err }),
      );
    } catch (err) {
      return Promise.resolve({ ok: false, err }); // a verifier that throws instead of rejecting
    }
  };
  /** The prefetched verification of this delivery if fresh, else a new one. */
  const verification = (message: ReceivedMessage): Promise<Verification> => {
    const early = prefetched.get(message.receiptHandle);
    prefetched.delete(message.receiptHandle);
    if (early && clock.now() - early.at <= PREFETCH_FRESH_MS) return early.result;
    return verifyNow(message.body);
  };

  const keepUntil = (ms: number) => Math.max(ms, clock.now() + retentionMs);
  const streamFor = (key: string) => streamOf(gatewayId, partitionOf(key, partitions));
  const claimOpts = (expiresAt: number) => ({ expiresAt, leaseMs, owner, now: clock.now() });

  const publishOne = createCoalescingPublisher(bus, options.publishBatchMax ?? 10);
  const publish = (stored: StoredReceipt) =>
    publishOne({ receipt: stored.receipt, request: stored.request, messageId: stored.messageId });

  async function place(order: ExchangeOrder): Promise<ExecResult> {
    const limit = options.exchangeTimeoutMs;
    if (limit === undefined) return exchange.place(order);
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(exchangeTimeout(order.clientOrderId));
      }, limit);
    });
    try {
      return await Promise.race([exchange.place(order, abort.signal), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Signs, stores (atomically with the chain head), publishes. */
  async function emit(
    messageId: string,
    key: string,
    stream: string,
    draft: ReceiptDraft,
    request: string | null,
    expiresAt: number,
  ): Promise<ProcessResult & { action: 'delete'; receipt: ReceiptClaims }> {
    const appended = await chain.append({ key, stream, draft, request, expiresAt });
    await publish(appended.stored);
    await options.checkpointer?.noteAppended(appended.head);
    logger.info(
      {
        messageId,
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

  function republished(stored: StoredReceipt): ProcessResult & { action: 'delete' } {
    const claims = readOwnReceipt(stored.receipt);
    return {
      action: 'delete',
      receiptId: claims.jti,
      outcome: claims.outcome,
      ...(claims.reason ? { reason: claims.reason as ReasonCode } : {}),
      republished: true,
    };
  }

  /** A REJECTED receipt keyed by the message id (the request key is not ours to use). */
  async function rejectMessage(
    message: ReceivedMessage,
    reason: ReasonCode,
    req: RequestRef,
    request: string | null,
    stream: string,
    detail?: string,
  ): Promise<ProcessResult> {
    const key = `msg#${message.messageId}`;
    const expiresAt = keepUntil(0);
    const res = await nonceStore.claim(key, claimOpts(expiresAt));
    if (!res.claimed) {
      if (res.existing.state === 'COMPLETED') {
        await publish(res.existing.stored);
        return republished(res.existing.stored);
      }
      return leaveInProgress(res.existing);
    }
    const draft: ReceiptDraft = {
      req,
      messageId: message.messageId,
      outcome: 'REJECTED',
      reason,
      fills: [],
      ...(detail === undefined ? {} : { detail }),
    };
    return emit(message.messageId, key, stream, draft, request, expiresAt);
  }

  function leaveInProgress(record: NonceRecord): ProcessResult {
    const ms = record.state === 'IN_PROGRESS' ? record.leaseUntil - clock.now() : 0;
    return {
      action: 'leave',
      why: 'IN_PROGRESS',
      visibilitySec: Math.max(1, Math.ceil(ms / 1000)),
    };
  }

  /**
   * The follow-up receipt of an UNKNOWN: asks the exchange by client order id; an order that
   * never arrived is placed now (same client order id, so a late original cannot fill twice).
   * Returns undefined while the exchange still does not answer.
   */
  async function resolveUnknown(u: PendingUnknown): Promise<ProcessResult | undefined> {
    const key = `res#${u.unknown.jti}`;
    const expiresAt = keepUntil(0);
    const res = await nonceStore.claim(key, claimOpts(expiresAt));
    if (!res.claimed) {
      if (res.existing.state === 'IN_PROGRESS') return undefined;
      pending.delete(u.unknown.jti);
      await publish(res.existing.stored);
      return republished(res.existing.stored);
    }
    let result: ExecResult | undefined;
    try {
      result =
        (await exchange.getOrder(u.claims.jti)) ??
        (await place({ clientOrderId: u.claims.jti, account: u.claims.sub, txn: u.claims.txn }));
    } catch (err) {
      if (isExchangeTimeout(err)) return undefined;
      throw err;
    }
    const draft = draftFromExecution(
      { req: u.unknown.req, messageId: u.unknown.messageId },
      result,
      u.unknown.policy,
      u.unknown.jti,
    );
    const done = await emit(
      u.unknown.messageId,
      key,
      u.unknown.stream,
      draft,
      u.request,
      expiresAt,
    );
    pending.delete(u.unknown.jti);
    return done;
  }

  /** The message was handled before: re-publish, and finish an UNKNOWN if needed. */
  async function redelivered(claims: RequestClaims, stored: StoredReceipt): Promise<ProcessResult> {
    await publish(stored);
    const receipt = readOwnReceipt(stored.receipt);
    if (receipt.outcome !== 'UNKNOWN') return republished(stored);
    const entry: PendingUnknown = { unknown: receipt, claims, request: stored.request };
    pending.set(receipt.jti, entry);
    const resolved = await resolveUnknown(entry);
    return resolved ?? { action: 'leave', why: 'UNRESOLVED', visibilitySec: reconcileDelaySec };
  }

  /**
   * A token that fails verification now may have verified on an earlier delivery of this same
   * message (e.g. it expired since). Only an exact byte match with the stored request of a
   * COMPLETED record from this message id counts: an attacker can neither forge nor burn it.
   */
  async function storedForThisMessage(
    token: string,
    message: ReceivedMessage,
  ): Promise<{ claims: RequestClaims; stored: StoredReceipt } | undefined> {
    const claims = unverifiedRequestClaims(token);
    if (!claims) return undefined;
    const record = await nonceStore.get(`${claims.iss}#${claims.jti}`);
    if (
      record?.state === 'COMPLETED' &&
      record.stored.request === token &&
      record.stored.messageId === message.messageId
    ) {
      return { claims, stored: record.stored };
    }
    return undefined;
  }

  async function handleVerified(
    message: ReceivedMessage,
    token: string,
    req: RequestRef,
    claims: RequestClaims,
  ): Promise<ProcessResult> {
    const key = `${claims.iss}#${claims.jti}`;
    const stream = streamFor(claims.sub);
    const expiresAt = keepUntil((claims.exp + options.clockSkewSec) * 1000);
    for (let round = 0; ; round += 1) {
      const res = await nonceStore.claim(key, claimOpts(expiresAt));
      if (!res.claimed) {
        const existing = res.existing;
        if (existing.state === 'COMPLETED') {
          if (existing.stored.messageId === message.messageId) {
            return redelivered(claims, existing.stored);
          }
          return rejectMessage(message, 'REPLAYED', req, token, stream);
        }
        // On the last receive, wait once for the lease rather than let the message go unanswered.
        if (message.receiveCount >= options.maxReceives && round === 0) {
          const wait = Math.min(
            Math.max(0, existing.leaseUntil - clock.now()),
            leaseMs,
            options.lastReceiveWaitMs ?? 10_000,
          );
          await new Promise((r) => setTimeout(r, wait + 10));
          continue;
        }
        return leaveInProgress(existing);
      }
      const base = { req, messageId: message.messageId };
      let result: ExecResult | undefined;
      let policy: PolicyStamp | undefined;
      if (res.takeover) {
        // The previous holder may have executed before dying: ask the exchange first.
        result = await exchange.getOrder(claims.jti);
        if (result) policy = authorizer.stamp(claims.iss);
        logger.warn(
          { messageId: message.messageId, found: result !== undefined },
          'lease takeover',
        );
      }
      if (!result) {
        const authz = authorizer.authorize(claims);
        if (!authz.ok) {
          return emit(
            message.messageId,
            key,
            stream,
            { ...base, outcome: 'REJECTED', reason: authz.reason, detail: authz.detail, fills: [] },
            token,
            expiresAt,
          );
        }
        policy = authz.policy;
        try {
          result = await place({ clientOrderId: claims.jti, account: claims.sub, txn: claims.txn });
        } catch (err) {
          if (!isExchangeTimeout(err)) throw err;
          const unknown = await emit(
            message.messageId,
            key,
            stream,
            { ...base, outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT', fills: [], policy },
            token,
            expiresAt,
          );
          pending.set(unknown.receiptId, { unknown: unknown.receipt, claims, request: token });
          logger.warn(
            { messageId: message.messageId, receiptId: unknown.receiptId },
            'exchange timeout',
          );
          // Keep the message: its redelivery reconciles even if this process dies.
          return { action: 'leave', why: 'UNRESOLVED', visibilitySec: reconcileDelaySec };
        }
      }
      return emit(
        message.messageId,
        key,
        stream,
        draftFromExecution(base, result, policy),
        token,
        expiresAt,
      );
    }
  }

  async function handle(message: ReceivedMessage): Promise<ProcessResult> {
    const token = message.body;
    const sha256 = sha256B64u(token);
    const anonymous: RequestRef = { jti: null, iss: null, sub: null, sha256 };
    if (Buffer.byteLength(token, 'utf8') > options.maxTokenBytes) {
      return rejectMessage(
        message,
        'TOKEN_TOO_LARGE',
        anonymous,
        null,
        streamFor(message.messageId),
      );
    }
    const verified = await verification(message);
    if (!verified.ok) {
      const err = verified.err;
      const code = verificationCodeOf(err);
      if (!code) throw err;
      const known = await storedForThisMessage(token, message);
      if (known) return redelivered(known.claims, known.stored);
      return rejectMessage(message, code, anonymous, token, streamFor(message.messageId));
    }
    const claims = verified.claims;
    const req: RequestRef = { jti: claims.jti, iss: claims.iss, sub: claims.sub, sha256 };
    return handleVerified(message, token, req, claims);
  }

  /** On the last receive: re-publish what exists for this message, else a POISON_MESSAGE receipt. */
  async function poison(message: ReceivedMessage, cause: unknown): Promise<ProcessResult> {
    const token = message.body;
    logger.error(
      { messageId: message.messageId, receiveCount: message.receiveCount, err: cause },
      'poison message: last receive failed',
    );
    try {
      const own = await nonceStore.get(`msg#${message.messageId}`);
      const stored =
        own?.state === 'COMPLETED'
          ? own.stored
          : (await storedForThisMessage(token, message))?.stored;
      if (stored) {
        await publish(stored);
      } else {
        const small = Buffer.byteLength(token, 'utf8') <= options.maxTokenBytes;
        const code = (cause as { code?: unknown } | null)?.code;
        await rejectMessage(
          message,
          'POISON_MESSAGE',
          { jti: null, iss: null, sub: null, sha256: sha256B64u(token) },
          small ? token : null,
          streamFor(message.messageId),
          typeof code === 'string' ? `failed with ${code}` : 'processing failed',
        );
      }
    } catch (err) {
      logger.error({ messageId: message.messageId, err }, 'poison receipt not emitted');
    }
    return { action: 'leave', why: 'POISON' };
  }

  return {
    async process(message) {
      try {
        for (let attempt = 1; ; attempt += 1) {
          try {
            return await handle(message);
          } catch (err) {
            // Our lease was taken over and the other holder completed: start over, it is idempotent.
            if (hasCode(err, 'NONCE_CONFLICT') && attempt < 3) continue;
            throw err;
          }
        }
      } catch (err) {
        if (message.receiveCount < options.maxReceives) throw err;
        return poison(message, err);
      }
    },
    prefetch(messages) {
      const now = clock.now();
      // Forget what was never processed (the rest of a group that failed, say).
      for (const [handle, entry] of prefetched) {
        if (now - entry.at <= PREFETCH_FRESH_MS) break;
        prefetched.delete(handle);
      }
      for (const m of messages) {
        if (Buffer.byteLength(m.body, 'utf8') > options.maxTokenBytes) continue;
        prefetched.set(m.receiptHandle, { at: now, result: verifyNow(m.body) });
      }
    },
    async reconcileUnknown() {
      let resolved = 0;
      for (const entry of [...pending.values()]) {
        try {
          if (await resolveUnknown(entry)) resolved += 1;
        } catch (err) {
          logger.warn({ receiptId: entry.unknown.jti, err }, 'reconciliation failed');
        }
      }
      return resolved;
    },
    pendingUnknown: () => pending.size,
    async close() {
      await options.checkpointer?.flush();
    },
  };
}
