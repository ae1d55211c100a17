// @countersign/transport: Queue and EventBus ports with SQS/EventBridge and embedded SQLite adapters.
export type {
  OutgoingMessage,
  SendResult,
  ReceivedMessage,
  ReceiveOptions,
  Queue,
  EventBus,
  ArchivedEvent,
  EventArchive,
} from './ports.ts';
export { createSqliteQueue, DEDUP_WINDOW_MS } from './sqlite-queue.ts';
export type {
  SqliteQueue,
  SqliteQueueOptions,
  DeadLetterMessage,
  RedriveResult,
  QueueDepth,
} from './sqlite-queue.ts';
export { createSqsQueue, traceOf } from './sqs-queue.ts';
export type { SqsQueueOptions } from './sqs-queue.ts';
export { findSqsDeadLetterQueue, peekSqsDeadLetters, startSqsRedrive } from './sqs-dlq.ts';
export type { SqsDeadLetter, SqsDeadLetterPeek, SqsDeadLetterQueue } from './sqs-dlq.ts';
export { createSqliteEventBus } from './sqlite-event-bus.ts';
export type { SqliteEventBus, SqliteEventBusOptions } from './sqlite-event-bus.ts';
export { createEventBridgeBus, eventEntrySize, MAX_EVENT_ENTRY_BYTES } from './eventbridge-bus.ts';
export type { EventBridgeBusOptions } from './eventbridge-bus.ts';
export { parseEventBridgeEnvelope } from './eventbridge-envelope.ts';
export type { EventBridgeEnvelope } from './eventbridge-envelope.ts';
export {
  queueError,
  busError,
  EventEnvelopeError,
  describeSdkError,
  isAbortError,
} from './errors.ts';
export type { QueueError, BusError, SdkErrorInfo } from './errors.ts';
export { sleepUnlessAborted } from './retry.ts';
export type { SqliteSynchronous } from '@countersign/sqlite';
