// Partial PutEvents failures can't be produced with moto (it accepts every entry), so these
// paths run against a stub client that answers like EventBridge does.
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import { createEventBridgeBus, eventEntrySize, MAX_EVENT_ENTRY_BYTES } from './eventbridge-bus.ts';

type Entry = NonNullable<PutEventsCommand['input']['Entries']>[number];
type Answer = (entries: Entry[], call: number) => unknown;

function stubClient(answer: Answer) {
  const calls: Entry[][] = [];
  const client = {
    send(command: PutEventsCommand, _opts?: { abortSignal?: AbortSignal }) {
      const entries = command.input.Entries ?? [];
      calls.push(entries);
      // A throw inside then() becomes a rejection, like a failed SDK call.
      return Promise.resolve().then(() => answer(entries, calls.length));
    },
  };
  return { client: client as unknown as EventBridgeClient, calls };
}

const ok = (entries: Entry[]) => ({
  FailedEntryCount: 0,
  Entries: entries.map((_, i) => ({ EventId: `ev-${i}` })),
});
const detail = (n: number) => ({ receipt: `a.${n}.c`, request: null, messageId: `m${n}` });
const ids = (entries: Entry[]) =>
  entries.map((e) => (JSON.parse(e.Detail!) as { messageId: string }).messageId);

describe('createEventBridgeBus', () => {
  it('sends batches of at most 10 with source, detail-type and bus name', async () => {
    const { client, calls } = stubClient(ok);
    const bus = createEventBridgeBus({ client, busName: 'receipts' });
    await bus.publish(Array.from({ length: 23 }, (_, i) => detail(i)));
    expect(calls.map((c) => c.length)).toEqual([10, 10, 3]);
    expect(calls[0]![0]).toMatchObject({
      EventBusName: 'receipts',
      Source: 'countersign.gateway',
      DetailType: 'TransactionReceipt',
      Detail: JSON.stringify(detail(0)),
    });
  });

  it('retries only the failed entries, with backoff, until all are accepted', async () => {
    const { client, calls } = stubClient((entries, call) => {
      if (call === 1) {
        return {
          FailedEntryCount: 2,
          Entries: entries.map((_, i) =>
            i === 1 || i === 3
              ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }
              : { EventId: `ev-${i}` },
          ),
        };
      }
      return ok(entries);
    });
    const bus = createEventBridgeBus({ client, busName: 'b', baseDelayMs: 1 });
    await bus.publish([0, 1, 2, 3, 4].map(detail));
    expect(calls.map(ids)).toEqual([
      ['m0', 'm1', 'm2', 'm3', 'm4'],
      ['m1', 'm3'],
    ]);
  });

  it('retries a retryable whole-call error, then succeeds', async () => {
    const { client, calls } = stubClient((entries, call) => {
      if (call === 1) {
        throw Object.assign(new Error('boom'), { name: 'InternalException', $fault: 'server' });
      }
      return ok(entries);
    });
    await createEventBridgeBus({ client, busName: 'b', baseDelayMs: 1 }).publish([detail(1)]);
    expect(calls).toHaveLength(2);
  });

  it('throws BUS_FAILED naming how many entries failed after maxAttempts', async () => {
    const { client, calls } = stubClient((entries) => ({
      FailedEntryCount: 1,
      Entries: entries.map((_, i) =>
        i === 0 ? { ErrorCode: 'InternalFailure' } : { EventId: `ev-${i}` },
      ),
    }));
    const bus = createEventBridgeBus({ client, busName: 'b', maxAttempts: 3, baseDelayMs: 1 });
    await expect(bus.publish([detail(1), detail(2)])).rejects.toMatchObject({
      code: 'BUS_FAILED',
      message: expect.stringContaining('1 of 2 events') as unknown,
      details: { failed: 1, total: 2, code: 'InternalFailure' },
    });
    expect(calls.map((c) => c.length)).toEqual([2, 1, 1]);
  });

  it('treats an entry without an EventId as not accepted', async () => {
    const { client, calls } = stubClient((entries, call) =>
      call === 1 ? { FailedEntryCount: 0, Entries: [{}] } : ok(entries),
    );
    await createEventBridgeBus({ client, busName: 'b', baseDelayMs: 1 }).publish([detail(1)]);
    expect(calls).toHaveLength(2);
  });

  it('fails fast on a non-retryable call error', async () => {
    const { client, calls } = stubClient(() => {
      throw Object.assign(new Error('no such bus'), {
        name: 'ResourceNotFoundException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400, requestId: 'req-1' },
      });
    });
    await expect(
      createEventBridgeBus({ client, busName: 'b' }).publish([detail(1)]),
    ).rejects.toMatchObject({
      code: 'BUS_FAILED',
      details: { code: 'ResourceNotFoundException', retryable: false, requestId: 'req-1' },
    });
    expect(calls).toHaveLength(1);
  });

  it('refuses an entry over 256 KB before sending anything', async () => {
    const { client, calls } = stubClient(ok);
    const big = { receipt: 'a.b.c', request: 'x'.repeat(MAX_EVENT_ENTRY_BYTES), messageId: 'm' };
    await expect(
      createEventBridgeBus({ client, busName: 'b' }).publish([detail(1), big]),
    ).rejects.toMatchObject({ code: 'BUS_FAILED', details: { index: 1 } });
    expect(calls).toHaveLength(0);
  });

  it('splits calls so that no call exceeds 256 KB in total', async () => {
    const { client, calls } = stubClient(ok);
    const fat = (n: number) => ({
      receipt: 'a.b.c',
      request: 'x'.repeat(100_000),
      messageId: `m${n}`,
    });
    await createEventBridgeBus({ client, busName: 'b' }).publish([0, 1, 2, 3, 4].map(fat));
    expect(calls.map((c) => c.length)).toEqual([2, 2, 1]);
    for (const c of calls) {
      expect(c.reduce((s, e) => s + eventEntrySize(e), 0)).toBeLessThanOrEqual(
        MAX_EVENT_ENTRY_BYTES,
      );
    }
  });

  it('an abort during backoff stops with BUS_FAILED', async () => {
    const { client } = stubClient((entries) => ({
      FailedEntryCount: 1,
      Entries: entries.map(() => ({ ErrorCode: 'InternalFailure' })),
    }));
    const ctl = new AbortController();
    const bus = createEventBridgeBus({ client, busName: 'b', baseDelayMs: 10_000 });
    const pending = bus.publish([detail(1)], ctl.signal);
    setTimeout(() => ctl.abort(), 10);
    await expect(pending).rejects.toMatchObject({ code: 'BUS_FAILED', details: { failed: 1 } });
  });
});
