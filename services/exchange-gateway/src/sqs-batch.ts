// The SQS event source batch handler (Lambda): same pipeline, same FIFO group runner as the
// worker (fifo-groups.ts), answered as `{ batchItemFailures }`. Lambda deletes the records not
// listed as failures and leaves the visibility of the others alone: a failed one comes back after
// the queue's visibility timeout (6 × the function timeout), so the runner sets it here, on the
// queue: a left message gets its suggested visibility, and the rest of its group visibility 0 (the
// queue still holds them behind it) instead of that whole timeout.
import pLimit from 'p-limit';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { traceOf, type Queue, type ReceivedMessage } from '@countersign/transport';
import { runFifoGroups } from './fifo-groups.ts';
import type { Processor } from './pipeline.ts';
import { silentLogger, type Logger } from './ports.ts';

export function recordToMessage(record: SQSRecord): ReceivedMessage {
  // The sender's W3C trace context (message attributes, in Lambda's casing), read by the queue
  // adapter's own rule, so the gateway's spans join the request's trace as they do off Lambda.
  const attributes: SQSRecord['messageAttributes'] | undefined = record.messageAttributes;
  const attribute = (name: string) => ({
    DataType: 'String',
    StringValue: attributes?.[name]?.stringValue,
  });
  return {
    messageId: record.messageId,
    body: record.body,
    groupId: record.attributes.MessageGroupId,
    receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
    receiptHandle: record.receiptHandle,
    sentAt: Number(record.attributes.SentTimestamp) || 0,
    ...traceOf({ traceparent: attribute('traceparent'), tracestate: attribute('tracestate') }),
  };
}

export interface SqsBatchOptions {
  readonly concurrency?: number;
  readonly logger?: Logger;
  /**
   * The SQS queue of the records: a message the pipeline leaves gets its suggested visibility
   * (an UNKNOWN's reconcile delay, a lease's rest), and the rest of its group visibility 0,
   * before Lambda returns them.
   */
  readonly queue?: Pick<Queue, 'changeVisibility'>;
}

export async function handleSqsBatch(
  event: SQSEvent,
  processor: Pick<Processor, 'process'> & Partial<Pick<Processor, 'prefetch' | 'blocked'>>,
  options: SqsBatchOptions = {},
): Promise<SQSBatchResponse> {
  const messages = event.Records.map(recordToMessage);
  // Verify the whole batch at once (in parallel); each message then runs in its group's order.
  processor.prefetch?.(messages);
  const run = await runFifoGroups(messages, {
    process: (m) => processor.process(m),
    ...(processor.blocked ? { blocked: (m: ReceivedMessage) => processor.blocked!(m) } : {}),
    limit: pLimit(Math.max(1, options.concurrency ?? 8)),
    ...(options.queue ? { queue: options.queue } : {}),
    logger: options.logger ?? silentLogger,
  });
  // This one and the rest of its group go back, in order (reported in event order).
  return {
    batchItemFailures: run.notDone.map((m) => ({ itemIdentifier: m.messageId })),
  };
}
