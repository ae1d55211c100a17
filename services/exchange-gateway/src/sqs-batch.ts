// The SQS event source batch handler (Lambda): same pipeline, same group-aware short-circuit,
// answered as `{ batchItemFailures }`. Lambda deletes the records not listed as failures.
import pLimit from 'p-limit';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ReceivedMessage } from '@countersign/transport';
import type { Processor } from './pipeline.ts';
import { silentLogger, type Logger } from './ports.ts';

export function recordToMessage(record: SQSRecord): ReceivedMessage {
  return {
    messageId: record.messageId,
    body: record.body,
    groupId: record.attributes.MessageGroupId,
    receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
    receiptHandle: record.receiptHandle,
    sentAt: Number(record.attributes.SentTimestamp) || 0,
  };
}

export async function handleSqsBatch(
  event: SQSEvent,
  processor: Pick<Processor, 'process'> & Partial<Pick<Processor, 'prefetch'>>,
  options: { readonly concurrency?: number; readonly logger?: Logger } = {},
): Promise<SQSBatchResponse> {
  const logger = options.logger ?? silentLogger;
  const limit = pLimit(Math.max(1, options.concurrency ?? 8));
  const messages = new Map(event.Records.map((r) => [r, recordToMessage(r)]));
  // Verify the whole batch at once (in parallel); each message then runs in its group's order.
  processor.prefetch?.([...messages.values()]);
  const groups = new Map<string, SQSRecord[]>();
  for (const record of event.Records) {
    const id = record.attributes.MessageGroupId ?? `\u0000${record.messageId}`;
    const list = groups.get(id);
    if (list) list.push(record);
    else groups.set(id, [record]);
  }
  const failures: string[] = [];
  await Promise.all(
    [...groups.values()].map(async (list) => {
      for (let i = 0; i < list.length; i += 1) {
        const record = list[i]!;
        let ok = false;
        try {
          const result = await limit(() => processor.process(messages.get(record)!));
          ok = result.action === 'delete';
        } catch (err) {
          logger.error({ messageId: record.messageId, err }, 'message failed');
        }
        if (!ok) {
          // This one and the rest of its group go back, in order.
          for (const r of list.slice(i)) failures.push(r.messageId);
          return;
        }
      }
    }),
  );
  // Report in event order (not required by Lambda, easier to read in logs and tests).
  const failed = new Set(failures);
  return {
    batchItemFailures: event.Records.filter((r) => failed.has(r.messageId)).map((r) => ({
      itemIdentifier: r.messageId,
    })),
  };
}
