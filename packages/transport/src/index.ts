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
