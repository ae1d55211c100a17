// The SQS adapter against moto: FIFO groups and dedup, a 300-message batch, redelivery and
// the DLQ, long-poll abort. moto never fails a batch entry, so the entry-retry test wraps the
// real client in a stub that fails one entry on the first call.
import { CreateQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SendMessageBatchCommandOutput } from '@aws-sdk/client-sqs';
import { createSqsQueue } from '@countersign/transport';
import type { Queue, ReceivedMessage } from '@countersign/transport';
import { beforeAll, describe, expect, it } from 'vitest';
import { clientConfig, uniqueName } from './support/aws.ts';
import { createFifoQueueWithDlq } from './support/aws-stack.ts';

let sqs: SQSClient;

beforeAll(() => {
  sqs = new SQSClient(clientConfig());
});

function fifoQueue(maxReceiveCount = 5, visibilityTimeout = 30) {
  return createFifoQueueWithDlq(sqs, uniqueName('req'), {
    maxReceiveCount,
    visibilityTimeoutSec: visibilityTimeout,
  });
}

/** Receives and deletes until `want` distinct messages came or nothing more arrives. */
async function drain(queue: Queue, want: number): Promise<ReceivedMessage[]> {
  const got: ReceivedMessage[] = [];
  let idle = 0;
  while (got.length < want && idle < 5) {
    const batch = await queue.receive({ max: 10, waitMs: 1000 });
    idle = batch.length === 0 ? idle + 1 : 0;
    for (const m of batch) {
      got.push(m);
      await queue.delete(m.receiptHandle);
    }
  }
  return got;
}

describe('createSqsQueue on moto', () => {
  it('FIFO: sends with group and dedup, drops a duplicate, receives attributes', async () => {
    const { queueUrl } = await fifoQueue();
    const queue = createSqsQueue({ client: sqs, queueUrl, maxReceives: 5 });
    const before = Date.now();
    const first = await queue.send({ body: 'token-1', groupId: 'acct-1', dedupId: 'jti-1' });
    await queue.send({ body: 'token-1-again', groupId: 'acct-1', dedupId: 'jti-1' });
    await queue.send({ body: 'token-2', groupId: 'acct-1', dedupId: 'jti-2' });
    const got = await drain(queue, 2);
    expect(got.map((m) => m.body)).toEqual(['token-1', 'token-2']);
    expect(await queue.receive({ max: 10, waitMs: 500 })).toEqual([]);
    expect(got[0]).toMatchObject({
      messageId: first.messageId,
      groupId: 'acct-1',
      receiveCount: 1,
    });
    expect(got[0]!.sentAt).toBeGreaterThanOrEqual(before - 2000);
  });

  it('a batch of 300 arrives complete, in order per group, with no duplicates', async () => {
    const { queueUrl } = await fifoQueue();
    const queue = createSqsQueue({ client: sqs, queueUrl, maxReceives: 5 });
    const messages = Array.from({ length: 300 }, (_, i) => ({
      body: `token-${i}`,
      groupId: `acct-${i % 8}`,
      dedupId: `jti-${i}`,
    }));
    // A consumer drains while the batch is sent, as in production (moto also slows down as a
    // FIFO queue grows).
    const [results, got] = await Promise.all([queue.sendBatch(messages), drain(queue, 300)]);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(got).toHaveLength(300);
    const ids = got.map((m) => m.messageId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(got.map((m) => m.body))).toEqual(new Set(messages.map((m) => m.body)));
    for (let g = 0; g < 8; g++) {
      const seq = got.filter((m) => m.groupId === `acct-${g}`).map((m) => Number(m.body.slice(6)));
      expect(seq).toEqual([...seq].sort((a, b) => a - b));
    }
  }, 300_000);

  it('retries a failed batch entry and every message arrives once', async () => {
    const { queueUrl } = await fifoQueue();
    let calls = 0;
    const sent: string[][] = [];
    // Stub over the real client: on the first call it withholds entry 1 and reports it as a
    // retryable failure, which moto itself never does.
    const flaky = {
      async send(command: SendMessageBatchCommand, opts?: { abortSignal?: AbortSignal }) {
        calls++;
        const entries = command.input.Entries ?? [];
        sent.push(entries.map((e) => e.Id!));
        if (calls > 1) return sqs.send(command, opts);
        const kept = entries.filter((e) => e.Id !== '1');
        const out: SendMessageBatchCommandOutput = await sqs.send(
          new SendMessageBatchCommand({ ...command.input, Entries: kept }),
          opts,
        );
        return {
          ...out,
          Failed: [{ Id: '1', SenderFault: false, Code: 'InternalError', Message: 'try later' }],
        };
      },
    } as unknown as SQSClient;
    const queue = createSqsQueue({ client: flaky, queueUrl, maxReceives: 5, baseDelayMs: 5 });
    const results = await queue.sendBatch(
      [0, 1, 2].map((i) => ({ body: `t${i}`, groupId: `g${i}`, dedupId: `d${i}` })),
    );
    expect(sent).toEqual([['0', '1', '2'], ['1']]);
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    const reader = createSqsQueue({ client: sqs, queueUrl, maxReceives: 5 });
    const got = await drain(reader, 3);
    expect(got.map((m) => m.body).sort()).toEqual(['t0', 't1', 't2']);
  });

  it('redelivers with a higher receive count, then the redrive policy moves it to the DLQ', async () => {
    const { queueUrl, dlqUrl } = await fifoQueue(2);
    const queue = createSqsQueue({ client: sqs, queueUrl, maxReceives: 2 });
    await queue.send({ body: 'poison', groupId: 'g', dedupId: 'p1' });
    const [first] = await queue.receive({ max: 1, waitMs: 1000 });
    expect(first?.receiveCount).toBe(1);
    await queue.changeVisibility(first!.receiptHandle, 0);
    const [second] = await queue.receive({ max: 1, waitMs: 1000 });
    expect(second).toMatchObject({ messageId: first!.messageId, receiveCount: 2 });
    await queue.changeVisibility(second!.receiptHandle, 0);
    expect(await queue.receive({ max: 1, waitMs: 1000 })).toEqual([]);
    const dlq = createSqsQueue({ client: sqs, queueUrl: dlqUrl, maxReceives: 1 });
    const dead = await drain(dlq, 1);
    expect(dead.map((m) => m.body)).toEqual(['poison']);
  });

  it('an aborted long poll resolves empty without waiting it out', async () => {
    const { queueUrl } = await fifoQueue();
    const queue = createSqsQueue({ client: sqs, queueUrl, maxReceives: 5 });
    const ctl = new AbortController();
    const started = performance.now();
    const pending = queue.receive({ max: 10, waitMs: 10_000, signal: ctl.signal });
    setTimeout(() => ctl.abort(), 100);
    expect(await pending).toEqual([]);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('works on a standard queue (no group or dedup ids sent)', async () => {
    const q = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('std') }));
    const queue = createSqsQueue({ client: sqs, queueUrl: q.QueueUrl!, maxReceives: 3 });
    await queue.sendBatch([{ body: 'a', groupId: 'g', dedupId: 'x' }]);
    const got = await drain(queue, 1);
    expect(got.map((m) => [m.body, m.groupId])).toEqual([['a', undefined]]);
  });

  it('converts a missing queue into QUEUE_FAILED with the SDK code', async () => {
    const { queueUrl } = await fifoQueue();
    const queue = createSqsQueue({
      client: sqs,
      queueUrl: queueUrl.replace('.fifo', '-nope.fifo'),
      maxReceives: 5,
    });
    await expect(queue.send({ body: 'x', groupId: 'g', dedupId: 'd' })).rejects.toMatchObject({
      code: 'QUEUE_FAILED',
      details: { retryable: false },
    });
  });
});
