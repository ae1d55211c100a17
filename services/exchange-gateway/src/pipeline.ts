// The per-message pipeline (DESIGN.md §1, §6). Every message that reaches the gateway ends in
// exactly one receipt, and an order is executed at most once, whatever crashes when.
//
//   size limit → verify (local keys, zero KMS calls) → claim `iss#jti` (only after verification)
//   → authorize (requester policy) → execute once (client order id = clientOrderIdOf(iss, jti))
//   → sign the receipt → complete (receipt + chain head, one atomic write) → publish → delete
//
// Deliberate difference from the order: the nonce record is completed (receipt stored,
// stream head advanced) BEFORE publishing. A seq must never be handed out twice; had we
// published first and crashed before advancing the head, a restart would mint a second,
// conflicting receipt for the same seq. Completing first, a crash between complete and
// publish is healed by the redelivery: it finds COMPLETED and re-publishes the stored receipt
// (consumers dedupe by receipt jti). The message is deleted only after the publish succeeded.
//
// The rules live in decide.ts (a pure decision table); executor.ts performs the steps. This
// module wires them behind the `Processor` interface the worker and the Lambda handler use.
import { randomUUID } from 'node:crypto';
import { errorCodeOf, type Clock, type Outcome, type ReasonCode } from '@countersign/contracts';
import type { NonceStore, StoredReceipt } from '@countersign/replay-guard';
import type { EventBus, ReceivedMessage } from '@countersign/transport';
import { injectTrace, type Metrics } from '@countersign/observability';
import type { ChainWriter } from './chain.ts';
import type { Checkpointer } from './checkpoints.ts';
import { decideOnFailure } from './decide.ts';
import { GatewayError } from './errors.ts';
import { placeDeadlineOf } from './exchange-calls.ts';
import { createExecutor } from './executor.ts';
import type { Authorizer } from './policy.ts';
import { silentLogger, type Exchange, type Logger } from './ports.ts';
import { createCoalescingPublisher } from './publisher.ts';
import { createVerifications, type RequestVerifier } from './verification.ts';

export type { RequestVerifier };

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
  /** Reads time and sleeps (the last-receive wait) on it. */
  readonly clock: Clock;
  /** Must equal the owner the chain writer completes with. */
  readonly owner: string;
  readonly maxTokenBytes: number;
  /** The queue's last receive (receiveCount ≥ this): a failure then yields POISON_MESSAGE. */
  readonly maxReceives: number;
  readonly clockSkewSec: number;
  /**
   * Lease of an IN_PROGRESS claim; a later claimer takes over (and reconciles) after it. Must be
   * longer than the place deadline (placeDeadlineOf): a claim places only while its lease outlasts
   * the call.
   */
  readonly leaseMs: number;
  /** How long completed records stay (≥ any possible redelivery). Default 14 days (SQS max retention). */
  readonly receiptRetentionSec?: number;
  /** Visibility of a message left after an UNKNOWN receipt, until its reconciliation. Default 5 s. */
  readonly reconcileDelaySec?: number;
  /** place() and getOrder() taking longer report EXCHANGE_TIMEOUT (the order may exist). Default none. */
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
  /** Verification cache (prefetch) hits and misses. Default: not recorded. */
  readonly metrics?: Metrics;
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
      /**
       * IN_PROGRESS elsewhere, our lease ending before place() could (LEASE_ENDING), an UNKNOWN
       * not resolved yet, or a poison message bound for the DLQ.
       */
      readonly why: 'IN_PROGRESS' | 'LEASE_ENDING' | 'UNRESOLVED' | 'POISON';
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
  /**
   * A message not run because an earlier one of its FIFO group did not finish. It comes back in
   * order, unless this was its last receive: the queue moves it to its DLQ before it can run, so
   * it is answered now (what exists for it, else REJECTED POISON_MESSAGE).
   */
  blocked(message: ReceivedMessage): Promise<void>;
  /** Resolves the UNKNOWN receipts this process emitted; returns how many were resolved. */
  reconcileUnknown(): Promise<number>;
  pendingUnknown(): number;
  /** Writes final checkpoints. */
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;

export function newOwnerId(gatewayId: string): string {
  return `${gatewayId}:${randomUUID()}`;
}

export function createProcessor(options: ProcessorOptions): Processor {
  const { clock, maxReceives } = options;
  const placeDeadlineMs = placeDeadlineOf(options.exchange, options.exchangeTimeoutMs);
  if (options.leaseMs <= placeDeadlineMs) {
    // Every claim would find its lease too short to place: nothing would ever execute.
    throw new GatewayError(
      'CONFIG_INVALID',
      `the nonce lease (${options.leaseMs} ms) must be longer than the exchange's place deadline (${placeDeadlineMs} ms)`,
    );
  }
  const verifications = createVerifications(
    options.verifier,
    clock,
    options.maxTokenBytes,
    options.metrics,
  );
  const publishOne = createCoalescingPublisher(options.bus, options.publishBatchMax ?? 10);
  const executor = createExecutor({
    ...options,
    retentionMs:
      options.receiptRetentionSec === undefined ? 14 * DAY_MS : options.receiptRetentionSec * 1000,
    reconcileDelaySec: options.reconcileDelaySec ?? 5,
    lastReceiveWaitMs: options.lastReceiveWaitMs ?? 10_000,
    exchangeTimeoutMs: options.exchangeTimeoutMs,
    publish: (stored: StoredReceipt) => {
      // The trace of this handling travels beside the tokens (absent when tracing is off).
      const trace = injectTrace();
      return publishOne({
        receipt: stored.receipt,
        request: stored.request,
        messageId: stored.messageId,
        ...(trace ? { trace } : {}),
      });
    },
    verify: (token) => verifications.now(token),
    checkpointer: options.checkpointer,
    logger: options.logger ?? silentLogger,
  });

  return {
    async process(message) {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await executor.handle(message, () => verifications.of(message));
        } catch (err) {
          const next = decideOnFailure({
            code: errorCodeOf(err),
            attempt,
            receiveCount: message.receiveCount,
            maxReceives,
          });
          if (next.kind === 'Retry') continue;
          if (next.kind === 'GiveBack') throw err;
          return executor.poison(message, err);
        }
      }
    },
    async blocked(message) {
      if (message.receiveCount >= maxReceives) await executor.blocked(message);
    },
    prefetch: (messages) => verifications.prefetch(messages),
    reconcileUnknown: () => executor.reconcileUnknown(),
    pendingUnknown: () => executor.pendingUnknown(),
    async close() {
      await options.checkpointer?.flush();
    },
  };
}
