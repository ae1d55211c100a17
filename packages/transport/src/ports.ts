// Queue and EventBus ports. The embedded (SQLite) and AWS (SQS, EventBridge) adapters
// implement the same interfaces; services never know which one they have.
import type { ReceiptEventDetail, TraceContext } from '@countersign/contracts';

export interface OutgoingMessage {
  readonly body: string;
  /** FIFO group (the account). */
  readonly groupId: string;
  /** Deduplication id (the jti). */
  readonly dedupId: string;
  /** W3C trace context, carried beside the body (SQS message attributes), never inside it. */
  readonly trace?: TraceContext;
}

export type SendResult =
  | { readonly ok: true; readonly messageId: string }
  | {
      readonly ok: false;
      readonly code: string;
      readonly message: string;
      readonly retryable: boolean;
    };

export interface ReceivedMessage {
  /** Queue message id (SQS MessageId). Stable across redeliveries. */
  readonly messageId: string;
  readonly body: string;
  readonly groupId: string | undefined;
  /** 1 on the first delivery. */
  readonly receiveCount: number;
  /** Opaque handle for delete / changeVisibility of this delivery. */
  readonly receiptHandle: string;
  /** Epoch ms the message was first sent. */
  readonly sentAt: number;
  /** The sender's trace context, as sent: unauthenticated, only links spans. */
  readonly trace?: TraceContext;
}

export interface ReceiveOptions {
  readonly max: number;
  /** Long-poll wait; resolves early when messages arrive. */
  readonly waitMs: number;
  /** Aborting ends the long poll: receive/poll resolve with [] (how a worker stops). */
  readonly signal?: AbortSignal;
}

export interface Queue {
  /** After this many receives the queue moves a message to its DLQ (the last receive = this number). */
  readonly maxReceives: number;
  send(message: OutgoingMessage, signal?: AbortSignal): Promise<{ messageId: string }>;
  /**
   * How many messages one sendBatch call stores together: 10 for SQS (one SendMessageBatch),
   * more for the embedded queue (one transaction). Callers chunk by it; absent means 10.
   */
  readonly maxBatchSize?: number;
  /** One result per entry, in order; retryable failures already retried. */
  sendBatch(messages: readonly OutgoingMessage[], signal?: AbortSignal): Promise<SendResult[]>;
  receive(options: ReceiveOptions): Promise<ReceivedMessage[]>;
  delete(receiptHandle: string, signal?: AbortSignal): Promise<void>;
  changeVisibility(receiptHandle: string, timeoutSec: number, signal?: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

export interface EventBus {
  /** Publishes every event or throws BUS_FAILED; failed entries are retried with backoff, never dropped. */
  publish(events: readonly ReceiptEventDetail[], signal?: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

export interface ArchivedEvent {
  /** Position in the archive (monotonic in the embedded bus). */
  readonly id: string;
  /** Epoch ms the bus accepted it. */
  readonly time: number;
  /** Unvalidated: consumers parse it with ReceiptEventDetail. */
  readonly detail: unknown;
}

/** Read side of the embedded bus: replay by time range, and durable cursors for live consumers. */
export interface EventArchive {
  read(range: { readonly from?: number; readonly to?: number }): AsyncIterable<ArchivedEvent>;
  /** Events after the consumer's committed position (long poll). */
  poll(consumer: string, options: ReceiveOptions): Promise<ArchivedEvent[]>;
  commit(consumer: string, id: string): Promise<void>;
}
