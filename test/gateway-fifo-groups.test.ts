// A message left at the head of its FIFO group (an UNKNOWN waiting for its reconcile delay) must
// not hold the rest of its group for the whole visibility timeout, on SQS FIFO (moto) through the
// worker and through the Lambda batch handler. SQS holds a group while any of its messages is in
// flight, so without releasing the rest, even the head would only come back after their timeout.
// The visibility timeout here is 300 s: finishing within the test's deadline shows the release.
import type { SQSEvent } from 'aws-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createSqsQueue, type Queue, type ReceivedMessage } from '@countersign/transport';
import { createWorker, type ProcessResult } from '@countersign/exchange-gateway';
import { handleSqsBatch } from '../services/exchange-gateway/src/sqs-batch.ts';
import { createFifoQueueWithDlq } from './support/aws-stack.ts';
import { clientConfig, uniqueName } from './support/aws.ts';
import { until } from './support/receipts.ts';

const VISIBILITY_SEC = 300;
const BODIES = ['head', 'f1', 'f2', 'f3', 'f4', 'f5'];

async function fifoQueue(): Promise<Queue> {
  const sqs = new SQSClient(clientConfig());
  const { queueUrl } = await createFifoQueueWithDlq(sqs, uniqueName('fifo-release'), {
    maxReceiveCount: 5,
    visibilityTimeoutSec: VISIBILITY_SEC,
  });
  const queue = createSqsQueue({ client: sqs, queueUrl, maxReceives: 5 });
  await queue.sendBatch(BODIES.map((body) => ({ body, groupId: 'acct-1', dedupId: body })));
  return queue;
}

/** The head is an UNKNOWN on its first delivery (kept 1 s), resolved on its second. */
function scripted(runs: string[]) {
  return (m: ReceivedMessage): Promise<ProcessResult> => {
    runs.push(`${m.body}#${m.receiveCount}`);
    if (m.body === 'head' && m.receiveCount === 1)
      return Promise.resolve({ action: 'leave', why: 'UNRESOLVED', visibilitySec: 1 });
    return Promise.resolve({
      action: 'delete',
      receiptId: m.messageId,
      outcome: 'EXECUTED',
      republished: false,
    });
  };
}

/** The head, then (after its 1 s) the head again and the five behind it, each once more. */
const IN_ORDER = ['head#1', ...BODIES.map((b) => `${b}#2`)];

describe('the rest of a stopped FIFO group comes back right behind its head (SQS FIFO on moto)', () => {
  it('the worker', async () => {
    const queue = await fifoQueue();
    const runs: string[] = [];
    const worker = createWorker({
      queue,
      processor: { process: scripted(runs), reconcileUnknown: () => Promise.resolve(0) },
      concurrency: 4,
      waitMs: 200,
      visibilityTimeoutSec: VISIBILITY_SEC,
      reconcileIntervalMs: 0,
    });
    const running = worker.run();
    try {
      await until(() => worker.counters().deleted === BODIES.length, 30_000, 'the group');
    } finally {
      await worker.stop();
      await running;
    }
    expect(runs).toEqual(IN_ORDER);
    expect(worker.counters()).toMatchObject({ left: 1, skipped: 5, failed: 0 });
  });

  it('the Lambda batch handler (records answered as batchItemFailures)', async () => {
    const queue = await fifoQueue();
    const runs: string[] = [];
    // What the event source mapping does: receive, invoke, delete what did not fail.
    const invoke = async (): Promise<number> => {
      const messages = await queue.receive({ max: 10, waitMs: 1000 });
      if (messages.length === 0) return 0;
      const event = {
        Records: messages.map((m) => ({
          messageId: m.messageId,
          receiptHandle: m.receiptHandle,
          body: m.body,
          attributes: {
            ApproximateReceiveCount: String(m.receiveCount),
            SentTimestamp: String(m.sentAt),
            MessageGroupId: m.groupId,
          },
        })),
      } as unknown as SQSEvent;
      const res = await handleSqsBatch(event, { process: scripted(runs) }, { queue });
      const failed = new Set(res.batchItemFailures.map((f) => f.itemIdentifier));
      for (const m of messages) if (!failed.has(m.messageId)) await queue.delete(m.receiptHandle);
      return messages.length - failed.size;
    };
    let deleted = 0;
    await until(
      async () => {
        deleted += await invoke();
        return deleted === BODIES.length;
      },
      30_000,
      'the group',
    );
    expect(runs).toEqual(IN_ORDER);
  });
});
