// Where the requester's receipts come from, each feeding the ReceiptIntake and acknowledging only
// what it stored:
// - embedded: the SQLite bus, with the requester's own durable cursor (it moves past a batch only
//   after the batch is stored; a restart goes on from there);
// - AWS: the SQS queue of the requester's own EventBridge rule, consumed by the receipts Lambda
//   (`receiptQueueBatch`, item failures) or by a long-running requester (`runSqsReceiptConsumer`).
// A batch that fails for a retryable reason (keys unavailable, store down) is not acknowledged
// and is tried again after a backoff; events that are not verifiable receipts are acknowledged
// (dropped) by the intake, never stored.
import { backoffDelayMs, EVENT_DETAIL_TYPE, EVENT_SOURCE } from '@countersign/contracts';
import {
  parseEventBridgeEnvelope,
  sleepUnlessAborted,
  type EventArchive,
  type Queue,
  type ReceivedMessage,
} from '@countersign/transport';
import type { Logger } from 'pino';
import { errorFields } from './error-log.ts';
import { RequesterError } from './errors.ts';
import type { IntakeResult, ReceiptIntake } from './receipt-intake.ts';

/** The embedded bus cursor of a requester (one per requester id, shared by its processes). */
export const receiptCursorOf = (requesterId: string): string => `requester:${requesterId}`;

const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 30_000;

export interface EmbeddedReceiptConsumerOptions {
  readonly archive: EventArchive;
  readonly consumer: string;
  readonly intake: ReceiptIntake;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Events per batch. Default 100. */
  readonly batch?: number;
  /** Long-poll wait on an idle bus. Default 1000 ms. */
  readonly waitMs?: number;
}

type BusReading = Pick<
  EmbeddedReceiptConsumerOptions,
  'archive' | 'consumer' | 'intake' | 'batch'
> & {
  readonly signal?: AbortSignal;
};

/** Reads one batch after the cursor, stores it, moves the cursor; how many events it read. */
async function consumeOnce(o: BusReading, waitMs: number): Promise<number> {
  const events = await o.archive.poll(o.consumer, {
    max: o.batch ?? 100,
    waitMs,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  if (events.length === 0) return 0;
  await o.intake.ingest(events.map((e) => e.detail));
  await o.archive.commit(o.consumer, events[events.length - 1]!.id);
  return events.length;
}

/** Follows the embedded bus until the signal aborts; retries a failed batch after a backoff. */
export async function runEmbeddedReceiptConsumer(o: EmbeddedReceiptConsumerOptions): Promise<void> {
  let failures = 0;
  while (!o.signal.aborted) {
    try {
      await consumeOnce(o, o.waitMs ?? 1000);
      failures = 0;
    } catch (err) {
      if (o.signal.aborted) break;
      const wait = backoffDelayMs(failures++, RETRY_BASE_MS, RETRY_MAX_MS) + RETRY_BASE_MS;
      o.logger.warn(
        { ...errorFields(err), retryInMs: wait },
        'receipts: a batch from the bus was not stored; retrying',
      );
      await sleepUnlessAborted(wait, o.signal);
    }
  }
}

/** Reads the embedded bus up to its end once (the CLI, with no consumer running); events read. */
export async function catchUpEmbeddedReceipts(o: BusReading): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await consumeOnce(o, 0);
    if (n === 0) return total;
    total += n;
  }
}

/**
 * Handles one batch of SQS messages of the receipts queue (EventBridge envelopes). Returns the ids
 * of the messages to keep (all of them when storing failed: retried later, then the DLQ).
 */
export async function receiptQueueBatch(
  intake: ReceiptIntake,
  messages: readonly Pick<ReceivedMessage, 'messageId' | 'body'>[],
  logger: Logger,
): Promise<{ readonly failed: string[]; readonly result?: IntakeResult }> {
  const details: unknown[] = [];
  for (const m of messages) {
    try {
      const envelope = parseEventBridgeEnvelope(m.body);
      if (envelope.source === EVENT_SOURCE && envelope.detailType === EVENT_DETAIL_TYPE) {
        details.push(envelope.detail);
        continue;
      }
      logger.warn({ messageId: m.messageId.slice(0, 128) }, 'receipts: not a receipt event');
    } catch (err) {
      logger.warn(
        { messageId: m.messageId.slice(0, 128), ...errorFields(err) },
        'receipts: not an EventBridge event',
      );
    }
  }
  try {
    return { failed: [], result: await intake.ingest(details) };
  } catch (err) {
    logger.warn(errorFields(err), 'receipts: a batch was not stored; it will be retried');
    return { failed: messages.map((m) => m.messageId) };
  }
}

export interface SqsReceiptConsumerOptions {
  readonly queue: Queue;
  readonly intake: ReceiptIntake;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Long-poll wait. Default 20 s. */
  readonly waitMs?: number;
}

/** A long-running requester's own consumer of its receipts queue (aws mode, not on Lambda). */
export async function runSqsReceiptConsumer(o: SqsReceiptConsumerOptions): Promise<void> {
  let failures = 0;
  while (!o.signal.aborted) {
    try {
      const messages = await o.queue.receive({
        max: 10,
        waitMs: o.waitMs ?? 20_000,
        signal: o.signal,
      });
      if (messages.length === 0) continue;
      const { failed } = await receiptQueueBatch(o.intake, messages, o.logger);
      const keep = new Set(failed);
      // Not with the abort signal: what was stored should be acknowledged.
      await Promise.all(
        messages.filter((m) => !keep.has(m.messageId)).map((m) => o.queue.delete(m.receiptHandle)),
      );
      if (keep.size > 0) {
        throw new RequesterError('STORE_FAILED', `${keep.size} receipt messages were not stored`, {
          details: { count: keep.size },
        });
      }
      failures = 0;
    } catch (err) {
      if (o.signal.aborted) break;
      const wait = backoffDelayMs(failures++, RETRY_BASE_MS, RETRY_MAX_MS) + RETRY_BASE_MS;
      o.logger.warn({ ...errorFields(err), retryInMs: wait }, 'receipts: retrying the queue');
      await sleepUnlessAborted(wait, o.signal);
    }
  }
}
