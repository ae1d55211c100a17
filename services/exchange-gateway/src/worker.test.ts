import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteQueue } from '@countersign/transport';
import type { ReceivedMessage } from '@countersign/transport';
import type { Processor, ProcessResult } from './pipeline.ts';
import { createWorker } from './worker.ts';

const queues: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const q of queues.splice(0)) await q.close();
});

function newQueue(visibilityTimeoutSec = 30) {
  const q = createSqliteQueue({
    path: join(mkdtempSync(join(tmpdir(), 'worker-')), 'q.sqlite'),
    visibilityTimeoutSec,
    maxReceives: 5,
    pollIntervalMs: 10,
  });
  queues.push(q);
  return q;
}

const done = (m: ReceivedMessage): ProcessResult => ({
  action: 'delete',
  receiptId: m.messageId,
  outcome: 'EXECUTED',
  republished: false,
});

/** Polls `cond` (real time, short) until it holds. */
async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function processor(
  fn: (m: ReceivedMessage) => Promise<ProcessResult>,
): Pick<Processor, 'process' | 'reconcileUnknown'> {
  return { process: fn, reconcileUnknown: () => Promise.resolve(0) };
}

describe('worker', () => {
  it('processes and deletes every message, FIFO within a group', async () => {
    const q = newQueue();
    for (let i = 0; i < 30; i += 1)
      await q.send({ body: `m${i}`, groupId: `g${i % 3}`, dedupId: `d${i}` });
    const seen: string[] = [];
    const stop = new AbortController();
    const worker = createWorker({
      queue: q,
      processor: processor(async (m) => {
        seen.push(m.body);
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        if (seen.length === 30) stop.abort();
        return done(m);
      }),
      concurrency: 4,
      waitMs: 50,
      visibilityTimeoutSec: 30,
      signal: stop.signal,
    });
    await worker.run();
    expect(worker.counters()).toMatchObject({ received: 30, deleted: 30, failed: 0 });
    for (const g of [0, 1, 2]) {
      const order = seen.filter((b) => Number(b.slice(1)) % 3 === g).map((b) => Number(b.slice(1)));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(q.depth()).toMatchObject({ visible: 0, inFlight: 0 });
  });

  it('hands each received batch to prefetch first; a failing prefetch loses nothing', async () => {
    const q = newQueue();
    for (let i = 0; i < 12; i += 1)
      await q.send({ body: `m${i}`, groupId: `g${i % 2}`, dedupId: `d${i}` });
    const prefetched: string[] = [];
    const stop = new AbortController();
    let processed = 0;
    const worker = createWorker({
      queue: q,
      processor: {
        ...processor((m) => {
          // Its batch was prefetched before any of it ran.
          expect(prefetched).toContain(m.messageId);
          if ((processed += 1) === 12) stop.abort();
          return Promise.resolve(done(m));
        }),
        prefetch: (ms) => {
          prefetched.push(...ms.map((m) => m.messageId));
          throw new Error('prefetch broke');
        },
      },
      concurrency: 4,
      waitMs: 50,
      visibilityTimeoutSec: 30,
      signal: stop.signal,
    });
    await worker.run();
    expect(worker.counters()).toMatchObject({ received: 12, deleted: 12, failed: 0 });
    expect(prefetched).toHaveLength(12);
  });

  it('group-aware short-circuit: after a failure the rest of that group is left, other groups go on', async () => {
    const q = newQueue();
    for (const [body, groupId] of [
      ['a1', 'A'],
      ['a2', 'A'],
      ['a3', 'A'],
      ['b1', 'B'],
      ['b2', 'B'],
    ] as const) {
      await q.send({ body, groupId, dedupId: body });
    }
    const seen: string[] = [];
    const stop = new AbortController();
    const worker = createWorker({
      queue: q,
      processor: processor((m) => {
        seen.push(m.body);
        if (m.body === 'b2') stop.abort();
        if (m.body === 'a2') return Promise.reject(new Error('fails'));
        return Promise.resolve(done(m));
      }),
      concurrency: 2,
      batchSize: 10,
      waitMs: 50,
      visibilityTimeoutSec: 30,
      signal: stop.signal,
    });
    await worker.run();
    expect(seen.sort()).toEqual(['a1', 'a2', 'b1', 'b2']); // a3 never handed to the pipeline
    expect(worker.counters()).toMatchObject({ deleted: 3, failed: 1, skipped: 1 });
    // a2 stays in flight (its own timeout); a3 is visible again, held behind it by the queue.
    expect(q.depth()).toMatchObject({ inFlight: 1, visible: 1 });
    expect(await q.receive({ max: 10, waitMs: 0 })).toEqual([]);
  });

  it('an UNKNOWN at the head of its group: the five behind it run right after its reconcile delay, not after the visibility timeout', async () => {
    let t = 1_700_000_000_000;
    const clock = { now: () => t };
    const q = createSqliteQueue({
      path: join(mkdtempSync(join(tmpdir(), 'worker-')), 'q.sqlite'),
      visibilityTimeoutSec: 30,
      maxReceives: 5,
      pollIntervalMs: 10,
      clock,
    });
    queues.push(q);
    await q.sendBatch(
      ['head', 'f1', 'f2', 'f3', 'f4', 'f5'].map((body) => ({
        body,
        groupId: 'acct',
        dedupId: body,
      })),
    );
    const runs: string[] = [];
    const stop = new AbortController();
    const worker = createWorker({
      queue: q,
      processor: processor((m) => {
        runs.push(`${m.body}#${m.receiveCount}`);
        // The head's exchange call timed out: UNKNOWN, kept for its reconcile delay (5 s); its
        // redelivery finds it resolved.
        if (m.body === 'head' && m.receiveCount === 1)
          return Promise.resolve({ action: 'leave', why: 'UNRESOLVED', visibilitySec: 5 });
        if (m.body === 'f5') stop.abort();
        return Promise.resolve(done(m));
      }),
      concurrency: 4,
      waitMs: 20,
      visibilityTimeoutSec: 30,
      heartbeat: false,
      reconcileIntervalMs: 0,
      signal: stop.signal,
    });
    const running = worker.run();
    await until(() => worker.counters().skipped === 5 && q.depth().visible === 5);
    // The five are visible again at once, but held behind the head (in flight for 5 s).
    expect(runs).toEqual(['head#1']);
    expect(q.depth()).toEqual({ visible: 5, inFlight: 1, dlq: 0 });
    t += 4999;
    await new Promise((r) => setTimeout(r, 100)); // the worker keeps polling: nothing for it
    expect(runs).toEqual(['head#1']);
    t += 1; // the head's reconcile delay is over; 25 s of the visibility timeout are left
    await running;
    expect(runs).toEqual(['head#1', 'head#2', 'f1#2', 'f2#2', 'f3#2', 'f4#2', 'f5#2']);
    expect(worker.counters()).toMatchObject({ received: 12, deleted: 6, left: 1, skipped: 5 });
    expect(q.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
  });

  it('leave with a visibility: the message comes back after it', async () => {
    const q = newQueue();
    await q.send({ body: 'x', groupId: 'g', dedupId: 'x' });
    const counts: number[] = [];
    const stop = new AbortController();
    const worker = createWorker({
      queue: q,
      processor: processor((m) => {
        counts.push(m.receiveCount);
        if (m.receiveCount === 1)
          return Promise.resolve({ action: 'leave', why: 'IN_PROGRESS', visibilitySec: 1 });
        stop.abort();
        return Promise.resolve(done(m));
      }),
      concurrency: 1,
      waitMs: 50,
      visibilityTimeoutSec: 30,
      signal: stop.signal,
    });
    const started = Date.now();
    await worker.run();
    expect(counts).toEqual([1, 2]);
    expect(Date.now() - started).toBeLessThan(10_000); // not the 30 s visibility timeout
  });

  it('heartbeat keeps a slow message invisible; stop() waits for it', async () => {
    const q = newQueue(1);
    await q.send({ body: 'slow', groupId: 'g', dedupId: 's' });
    let calls = 0;
    let release!: () => void;
    const started = new Promise<void>((r) => (release = r));
    const worker = createWorker({
      queue: q,
      processor: processor(async (m) => {
        calls += 1;
        release();
        await new Promise((r) => setTimeout(r, 1800));
        return done(m);
      }),
      concurrency: 2,
      waitMs: 50,
      visibilityTimeoutSec: 1,
      heartbeat: { intervalMs: 300 },
    });
    const run = worker.run();
    await started;
    await worker.stop(); // aborts the poll, waits for the in-flight message
    await run;
    expect(calls).toBe(1); // never redelivered while running
    expect(worker.counters().heartbeats).toBeGreaterThanOrEqual(3);
    expect(worker.counters().deleted).toBe(1);
    expect(q.depth()).toMatchObject({ visible: 0, inFlight: 0 });
  });

  it('heartbeat also covers a message waiting behind a slow one of its group', async () => {
    const q = newQueue(1);
    await q.send({ body: 'first', groupId: 'g', dedupId: 'f' });
    await q.send({ body: 'second', groupId: 'g', dedupId: 's' });
    const seen: string[] = [];
    let depthWhileSlow: unknown;
    const stop = new AbortController();
    const worker = createWorker({
      queue: q,
      processor: processor(async (m) => {
        seen.push(`${m.body}#${m.receiveCount}`);
        if (m.body === 'first') {
          await new Promise((r) => setTimeout(r, 1500));
          depthWhileSlow = q.depth(); // 'second' is past its own 1 s visibility by now
        } else stop.abort();
        return done(m);
      }),
      concurrency: 4,
      waitMs: 50,
      visibilityTimeoutSec: 1,
      heartbeat: { intervalMs: 250 },
      signal: stop.signal,
    });
    await worker.run();
    expect(depthWhileSlow).toMatchObject({ visible: 0, inFlight: 2 });
    expect(seen).toEqual(['first#1', 'second#1']); // 'second' never went back to the queue
    expect(worker.counters()).toMatchObject({ deleted: 2, deleteErrors: 0 });
    expect(q.depth()).toMatchObject({ visible: 0, inFlight: 0 });
  });

  it('runs the reconciliation pass periodically', async () => {
    const q = newQueue();
    let passes = 0;
    const worker = createWorker({
      queue: q,
      processor: {
        process: (m) => Promise.resolve(done(m)),
        reconcileUnknown: () => Promise.resolve(++passes),
      },
      concurrency: 1,
      waitMs: 20,
      visibilityTimeoutSec: 30,
      reconcileIntervalMs: 20,
    });
    const run = worker.run();
    await new Promise((r) => setTimeout(r, 200));
    await worker.stop();
    await run;
    expect(passes).toBeGreaterThanOrEqual(3);
  });
});
