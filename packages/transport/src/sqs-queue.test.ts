// SQS per-entry failures and error conversion, against a stub client: moto never fails a
// batch entry, so this is the only way to exercise the retry path.
import type { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createSqsQueue } from './sqs-queue.ts';

interface Call {
  name: string;
  input: Record<string, unknown>;
  signal: AbortSignal | undefined;
}

function stubClient(answer: (call: Call, n: number) => unknown) {
  const calls: Call[] = [];
  const client = {
    send(
      command: { constructor: { name: string }; input: Record<string, unknown> },
      opts?: { abortSignal?: AbortSignal },
    ) {
      const call = {
        name: command.constructor.name,
        input: command.input,
        signal: opts?.abortSignal,
      };
      calls.push(call);
      // A throw inside then() becomes a rejection, like a failed SDK call.
      return Promise.resolve().then(() => answer(call, calls.length));
    },
  };
  return { client: client as unknown as SQSClient, calls };
}

type Entry = {
  Id: string;
  MessageBody: string;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
};
const entriesOf = (c: Call) => c.input.Entries as Entry[];
const okAll = (c: Call) => ({
  Successful: entriesOf(c).map((e) => ({ Id: e.Id, MessageId: `mid-${e.MessageBody}` })),
  Failed: [],
});
const msg = (n: number) => ({ body: `b${n}`, groupId: `acct-${n % 2}`, dedupId: `jti-${n}` });
const FIFO = 'http://127.0.0.1:1/000000000000/requests.fifo';

describe('createSqsQueue', () => {
  it('sends FIFO group and dedup ids and splits batches by 10', async () => {
    const { client, calls } = stubClient(okAll);
    const q = createSqsQueue({ client, queueUrl: FIFO, maxReceives: 5 });
    const results = await q.sendBatch(Array.from({ length: 12 }, (_, i) => msg(i)));
    expect(calls.map((c) => entriesOf(c).length)).toEqual([10, 2]);
    expect(entriesOf(calls[0]!)[1]).toEqual({
      Id: '1',
      MessageBody: 'b1',
      MessageGroupId: 'acct-1',
      MessageDeduplicationId: 'jti-1',
    });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results[11]).toEqual({ ok: true, messageId: 'mid-b11' });
  });

  it('omits group and dedup ids on a standard queue', async () => {
    const { client, calls } = stubClient(() => ({ MessageId: 'x' }));
    await createSqsQueue({ client, queueUrl: 'http://h/1/std', maxReceives: 5 }).send(msg(1));
    expect(calls[0]!.input).toEqual({ QueueUrl: 'http://h/1/std', MessageBody: 'b1' });
  });

  it('retries only the failed retryable entries and reports each final result', async () => {
    const { client, calls } = stubClient((c, n) => {
      const entries = entriesOf(c);
      if (n === 1) {
        return {
          Successful: [{ Id: '0', MessageId: 'mid-b0' }],
          Failed: [
            { Id: '1', SenderFault: false, Code: 'InternalError', Message: 'try again' },
            { Id: '2', SenderFault: true, Code: 'InvalidMessageContents', Message: 'bad body' },
          ],
        };
      }
      return okAll({ ...c, input: { Entries: entries } });
    });
    const q = createSqsQueue({ client, queueUrl: FIFO, maxReceives: 5, baseDelayMs: 1 });
    const results = await q.sendBatch([msg(0), msg(1), msg(2)]);
    expect(calls.map((c) => entriesOf(c).map((e) => e.Id))).toEqual([['0', '1', '2'], ['1']]);
    expect(results).toEqual([
      { ok: true, messageId: 'mid-b0' },
      { ok: true, messageId: 'mid-b1' },
      { ok: false, code: 'InvalidMessageContents', message: 'bad body', retryable: false },
    ]);
  });

  it('gives up after maxAttempts and reports the entry as failed, never dropped', async () => {
    const { client, calls } = stubClient((c) => ({
      Successful: [],
      Failed: entriesOf(c).map((e) => ({ Id: e.Id, SenderFault: false, Code: 'InternalError' })),
    }));
    const q = createSqsQueue({
      client,
      queueUrl: FIFO,
      maxReceives: 5,
      maxAttempts: 3,
      baseDelayMs: 1,
    });
    const results = await q.sendBatch([msg(0)]);
    expect(calls).toHaveLength(3);
    expect(results).toEqual([
      { ok: false, code: 'InternalError', message: 'the entry failed', retryable: true },
    ]);
  });

  it('receives with system attributes and maps them', async () => {
    const { client, calls } = stubClient(() => ({
      Messages: [
        {
          MessageId: 'm1',
          ReceiptHandle: 'rh1',
          Body: 'token',
          Attributes: {
            ApproximateReceiveCount: '3',
            SentTimestamp: '1700000000000',
            MessageGroupId: 'acct-1',
          },
        },
      ],
    }));
    const ctl = new AbortController();
    const q = createSqsQueue({ client, queueUrl: FIFO, maxReceives: 5 });
    const got = await q.receive({ max: 25, waitMs: 1500, signal: ctl.signal });
    expect(calls[0]!.input).toMatchObject({
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 2,
      MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp', 'MessageGroupId'],
      MessageAttributeNames: ['traceparent', 'tracestate'],
    });
    expect(calls[0]!.signal).toBe(ctl.signal);
    expect(got).toEqual([
      {
        messageId: 'm1',
        body: 'token',
        groupId: 'acct-1',
        receiveCount: 3,
        receiptHandle: 'rh1',
        sentAt: 1_700_000_000_000,
      },
    ]);
  });

  it('sends trace context as message attributes and reads a valid one back', async () => {
    const traceparent = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    const { client, calls } = stubClient((call) =>
      call.name === 'SendMessageCommand'
        ? { MessageId: 'm1' }
        : {
            Messages: [
              ['m1', traceparent],
              ['m2', 'not-a-traceparent'],
            ].map(([id, tp]) => ({
              MessageId: id,
              ReceiptHandle: `rh-${id}`,
              Body: 'token',
              Attributes: { SentTimestamp: '1' },
              MessageAttributes: { traceparent: { DataType: 'String', StringValue: tp } },
            })),
          },
    );
    const q = createSqsQueue({ client, queueUrl: FIFO, maxReceives: 5 });
    await q.send({ body: 'token', groupId: 'g', dedupId: 'd', trace: { traceparent } });
    expect(calls[0]!.input.MessageAttributes).toEqual({
      traceparent: { DataType: 'String', StringValue: traceparent },
    });
    expect(calls[0]!.input.MessageBody).toBe('token');
    const got = await q.receive({ max: 10, waitMs: 0 });
    expect(got.map((m) => m.trace)).toEqual([{ traceparent }, undefined]);
  });

  it('converts SDK errors into QUEUE_FAILED with code, retryable and requestId', async () => {
    const { client } = stubClient(() => {
      throw Object.assign(new Error('The specified queue does not exist.'), {
        name: 'QueueDoesNotExist',
        $fault: 'client',
        $metadata: { httpStatusCode: 400, requestId: 'req-9' },
      });
    });
    const q = createSqsQueue({ client, queueUrl: FIFO, maxReceives: 5 });
    for (const op of [
      () => q.send(msg(1)),
      () => q.receive({ max: 1, waitMs: 0 }),
      () => q.delete('rh'),
      () => q.changeVisibility('rh', 30),
    ]) {
      await expect(op()).rejects.toMatchObject({
        code: 'QUEUE_FAILED',
        details: { code: 'QueueDoesNotExist', retryable: false, requestId: 'req-9' },
      });
    }
  });

  it('an aborted long poll resolves empty', async () => {
    const { client } = stubClient(() => {
      throw Object.assign(new Error('aborted'), { name: 'AbortError' });
    });
    const ctl = new AbortController();
    ctl.abort();
    const q = createSqsQueue({ client, queueUrl: FIFO, maxReceives: 5 });
    expect(await q.receive({ max: 1, waitMs: 20_000, signal: ctl.signal })).toEqual([]);
  });
});
