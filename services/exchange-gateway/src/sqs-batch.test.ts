import { describe, expect, it } from 'vitest';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { ReceivedMessage } from '@countersign/transport';
import type { ProcessResult } from './pipeline.ts';
import { handleSqsBatch, recordToMessage } from './sqs-batch.ts';

function record(id: string, group: string, receiveCount = 1): SQSRecord {
  return {
    messageId: id,
    receiptHandle: `h-${id}`,
    body: `body-${id}`,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: '1700000000000',
      SenderId: 's',
      ApproximateFirstReceiveTimestamp: '1700000000001',
      MessageGroupId: group,
      MessageDeduplicationId: id,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:requests.fifo',
    awsRegion: 'us-east-1',
  };
}

const ok = (m: ReceivedMessage): ProcessResult => ({
  action: 'delete',
  receiptId: m.messageId,
  outcome: 'EXECUTED',
  republished: false,
});

describe('SQS batch handler', () => {
  it('maps records to messages', () => {
    expect(recordToMessage(record('m1', 'g', 3))).toEqual({
      messageId: 'm1',
      body: 'body-m1',
      groupId: 'g',
      receiveCount: 3,
      receiptHandle: 'h-m1',
      sentAt: 1700000000000,
    });
  });

  it('carries the W3C trace context of the message attributes; a malformed one is dropped', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const attr = (value: string) => ({ stringValue: value, dataType: 'String' as const });
    const traced = {
      ...record('m2', 'g'),
      messageAttributes: { traceparent: attr(traceparent), tracestate: attr('vendor=1') },
    };
    expect(recordToMessage(traced).trace).toEqual({ traceparent, tracestate: 'vendor=1' });
    const bad = { ...record('m3', 'g'), messageAttributes: { traceparent: attr('00-zz') } };
    expect(recordToMessage(bad)).not.toHaveProperty('trace');
  });

  it('reports the failed record and the rest of its group, other groups succeed', async () => {
    const event: SQSEvent = {
      Records: [
        record('a1', 'A'),
        record('b1', 'B'),
        record('a2', 'A'),
        record('b2', 'B'),
        record('a3', 'A'),
      ],
    };
    const seen: string[] = [];
    const res = await handleSqsBatch(event, {
      process: (m) => {
        seen.push(m.messageId);
        if (m.messageId === 'a2') return Promise.reject(new Error('boom'));
        return Promise.resolve(ok(m));
      },
    });
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'a2' }, { itemIdentifier: 'a3' }]);
    expect(seen).not.toContain('a3');
    expect(seen).toEqual(expect.arrayContaining(['a1', 'b1', 'b2']));
  });

  it('a message left for later (IN_PROGRESS, UNKNOWN, poison) is a failure so Lambda keeps it', async () => {
    const res = await handleSqsBatch(
      { Records: [record('x', 'X'), record('y', 'X')] },
      {
        process: (m) =>
          Promise.resolve(
            m.messageId === 'x' ? { action: 'leave', why: 'UNRESOLVED', visibilitySec: 5 } : ok(m),
          ),
      },
    );
    expect(res.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['x', 'y']);
  });

  it('a left message gets its suggested visibility on the queue (an UNKNOWN keeps its reconcile delay)', async () => {
    const changed: [string, number][] = [];
    const res = await handleSqsBatch(
      { Records: [record('u', 'U'), record('v', 'V'), record('w', 'W')] },
      {
        process: (m) =>
          Promise.resolve<ProcessResult>(
            m.messageId === 'u'
              ? { action: 'leave', why: 'UNRESOLVED', visibilitySec: 5 }
              : m.messageId === 'v'
                ? { action: 'leave', why: 'POISON' }
                : ok(m),
          ),
      },
      {
        queue: {
          changeVisibility: (handle, sec) => {
            changed.push([handle, sec]);
            return Promise.resolve();
          },
        },
      },
    );
    expect(changed).toEqual([['h-u', 5]]); // POISON suggests nothing: the queue's own timeout
    expect(res.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['u', 'v']);
  });

  it('the rest of a stopped group is made visible again (Lambda would leave it invisible for the whole timeout) and handed to blocked', async () => {
    const changed: [string, number][] = [];
    const blocked: string[] = [];
    const res = await handleSqsBatch(
      { Records: [record('x1', 'X'), record('y1', 'Y'), record('x2', 'X'), record('x3', 'X', 5)] },
      {
        process: (m) =>
          Promise.resolve<ProcessResult>(
            m.messageId === 'x1' ? { action: 'leave', why: 'UNRESOLVED', visibilitySec: 5 } : ok(m),
          ),
        blocked: (m) => {
          blocked.push(`${m.messageId}#${m.receiveCount}`);
          return Promise.resolve();
        },
      },
      {
        queue: {
          changeVisibility: (handle, sec) => {
            changed.push([handle, sec]);
            return Promise.resolve();
          },
        },
      },
    );
    // The head keeps its reconcile delay; the queue holds x2 and x3 behind it until then.
    expect(changed).toEqual([
      ['h-x1', 5],
      ['h-x2', 0],
      ['h-x3', 0],
    ]);
    expect(blocked).toEqual(['x2#1', 'x3#5']);
    expect(res.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['x1', 'x2', 'x3']);
  });

  it('a failing changeVisibility still reports the message as a failure', async () => {
    const res = await handleSqsBatch(
      { Records: [record('u', 'U')] },
      { process: () => Promise.resolve({ action: 'leave', why: 'IN_PROGRESS', visibilitySec: 3 }) },
      { queue: { changeVisibility: () => Promise.reject(new Error('handle expired')) } },
    );
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'u' }]);
  });

  it('prefetches the whole batch before the first message runs, and processes those same messages', async () => {
    const event: SQSEvent = { Records: [record('a1', 'A'), record('a2', 'A'), record('b1', 'B')] };
    const order: string[] = [];
    let prefetched: readonly ReceivedMessage[] = [];
    await handleSqsBatch(event, {
      prefetch: (ms) => {
        prefetched = ms;
        order.push('prefetch');
      },
      process: (m) => {
        order.push(m.messageId);
        // The pipeline finds a prefetch by receipt handle: it must be the same delivery.
        expect(prefetched.find((p) => p.messageId === m.messageId)).toEqual(m);
        return Promise.resolve(ok(m));
      },
    });
    expect(prefetched.map((m) => m.messageId)).toEqual(['a1', 'a2', 'b1']);
    expect(order[0]).toBe('prefetch');
    expect(order).toHaveLength(4);
  });
});
