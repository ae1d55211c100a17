import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { corruptPages } from '@countersign/sqlite/testing';
import { createSqliteQueue, DEDUP_WINDOW_MS, uuidV7 } from './sqlite-queue.ts';
import type { SqliteQueue, SqliteQueueOptions } from './sqlite-queue.ts';

let dir: string;
let path: string;
const open: SqliteQueue[] = [];
let t = 1_700_000_000_000;
const clock = { now: () => t };

function queue(overrides: Partial<SqliteQueueOptions> = {}): SqliteQueue {
  const q = createSqliteQueue({
    path,
    visibilityTimeoutSec: 30,
    maxReceives: 3,
    clock,
    pollIntervalMs: 5,
    ...overrides,
  });
  open.push(q);
  return q;
}

const msg = (n: number, groupId = `g${n}`) => ({ body: `body-${n}`, groupId, dedupId: `d-${n}` });

/** A child process that drains queue `name` of the file once told to (`proc.stdin.end`). */
function startChild(name: string) {
  const child = fileURLToPath(new URL('./testing/sqlite-queue-child.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', child, path, name], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const ready = new Promise<void>((resolve) => {
    proc.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes('ready')) resolve();
    });
  });
  proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const done = new Promise<string[]>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}: ${err}`)),
    );
  });
  return { proc, ready, done };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cs-queue-'));
  path = join(dir, 'queue.db');
  t = 1_700_000_000_000;
});
afterEach(async () => {
  for (const q of open.splice(0)) await q.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('createSqliteQueue', () => {
  it('round-trips a message with its attributes', async () => {
    const q = queue();
    const { messageId } = await q.send(msg(1));
    const [got, ...rest] = await q.receive({ max: 10, waitMs: 0 });
    expect(rest).toEqual([]);
    expect(got).toMatchObject({
      messageId,
      body: 'body-1',
      groupId: 'g1',
      receiveCount: 1,
      sentAt: t,
    });
    await q.delete(got!.receiptHandle);
    expect(q.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
  });

  it('carries W3C trace context beside the body, and none when none was sent', async () => {
    const q = queue();
    const trace = { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, tracestate: 'k=v' };
    await q.sendBatch([{ ...msg(1), trace }, msg(2)]);
    const got = await q.receive({ max: 10, waitMs: 0 });
    expect(got.map((m) => m.trace)).toEqual([trace, undefined]);
    expect(got[0]!.body).toBe('body-1'); // the token is untouched
  });

  it('keeps messages across close and reopen', async () => {
    const q1 = queue();
    const sent = await q1.sendBatch([msg(1), msg(2)]);
    await q1.close();
    const q2 = queue();
    const got = await q2.receive({ max: 10, waitMs: 0 });
    expect(got.map((m) => m.body)).toEqual(['body-1', 'body-2']);
    expect(got.map((m) => m.messageId)).toEqual(sent.map((s) => (s.ok ? s.messageId : '')));
  });

  it('redelivers after the visibility timeout with receiveCount + 1 and a stable messageId', async () => {
    const q = queue();
    const { messageId } = await q.send(msg(1));
    const [first] = await q.receive({ max: 1, waitMs: 0 });
    expect(await q.receive({ max: 1, waitMs: 0 })).toEqual([]);
    t += 29_999;
    expect(await q.receive({ max: 1, waitMs: 0 })).toEqual([]);
    t += 1;
    const [second] = await q.receive({ max: 1, waitMs: 0 });
    expect(second).toMatchObject({ messageId, receiveCount: 2 });
    expect(second!.receiptHandle).not.toBe(first!.receiptHandle);
  });

  it('moves a message to the DLQ instead of delivering it past maxReceives', async () => {
    const q = queue({ maxReceives: 3 });
    const { messageId } = await q.send(msg(1));
    for (let n = 1; n <= 3; n++) {
      const [m] = await q.receive({ max: 1, waitMs: 0 });
      expect(m?.receiveCount).toBe(n);
      t += 30_000;
    }
    expect(await q.receive({ max: 10, waitMs: 0 })).toEqual([]);
    expect(q.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 1 });
    expect(q.dlq()).toEqual([
      expect.objectContaining({ messageId, body: 'body-1', receiveCount: 3, movedAt: t }),
    ]);
  });

  it('fills the receive past a message it moved to the DLQ', async () => {
    const q = queue({ maxReceives: 1 });
    await q.send(msg(1));
    await q.receive({ max: 1, waitMs: 0 });
    t += 30_000;
    await q.send(msg(2));
    const got = await q.receive({ max: 1, waitMs: 0 });
    expect(got.map((m) => m.body)).toEqual(['body-2']);
    expect(q.depth().dlq).toBe(1);
  });

  it('delivers a group in order and nothing more of it while one is in flight', async () => {
    const q = queue();
    await q.sendBatch([msg(1, 'A'), msg(2, 'A'), msg(3, 'B'), msg(4, 'A')]);
    const first = await q.receive({ max: 2, waitMs: 0 });
    expect(first.map((m) => m.body)).toEqual(['body-1', 'body-2']);
    // A is blocked while 1 and 2 are in flight; B is free.
    const second = await q.receive({ max: 10, waitMs: 0 });
    expect(second.map((m) => m.body)).toEqual(['body-3']);
    await q.delete(first[0]!.receiptHandle);
    expect(await q.receive({ max: 10, waitMs: 0 })).toEqual([]);
    await q.delete(first[1]!.receiptHandle);
    const third = await q.receive({ max: 10, waitMs: 0 });
    expect(third.map((m) => m.body)).toEqual(['body-4']);
  });

  it('finds a free group behind a long blocked one (past the fast path’s 256-row walk)', async () => {
    const q = queue();
    await q.sendBatch(Array.from({ length: 300 }, (_, i) => msg(i, 'busy')));
    await q.send(msg(1000, 'free'));
    const [head] = await q.receive({ max: 1, waitMs: 0 });
    expect(head?.groupId).toBe('busy'); // in flight: the other 299 of its group wait
    const next = await q.receive({ max: 10, waitMs: 0 });
    expect(next.map((m) => [m.body, m.groupId])).toEqual([['body-1000', 'free']]);
  });

  it('unblocks a group when the in-flight message’s visibility expires, redelivering it first', async () => {
    const q = queue();
    await q.sendBatch([msg(1, 'A'), msg(2, 'A')]);
    await q.receive({ max: 1, waitMs: 0 });
    t += 30_000;
    const again = await q.receive({ max: 10, waitMs: 0 });
    expect(again.map((m) => [m.body, m.receiveCount])).toEqual([
      ['body-1', 2],
      ['body-2', 1],
    ]);
  });

  // The gateway's group runner makes the rest of a stopped group visible again at once, trusting
  // the queue (like SQS FIFO) to deliver none of them while the group's earlier message is in
  // flight: they must come back behind it, in order, on both receive paths.
  for (const [path_, scanRows] of [
    ['the send-order scan', 256],
    ['the group-head walk', 1],
  ] as const) {
    it(`holds a group behind its in-flight head although the rest is visible (${path_})`, async () => {
      const q = queue({ receiveScanRows: scanRows });
      await q.sendBatch([...[1, 2, 3, 4, 5, 6].map((n) => msg(n, 'A')), msg(7, 'B')]);
      const batch = await q.receive({ max: 10, waitMs: 0 });
      expect(batch.map((m) => m.body)).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => `body-${n}`));
      const [head, ...rest] = batch.slice(0, 6);
      await q.changeVisibility(head!.receiptHandle, 5); // e.g. an UNKNOWN's reconcile delay
      for (const m of rest) await q.changeVisibility(m.receiptHandle, 0);
      expect(q.depth()).toEqual({ visible: 5, inFlight: 2, dlq: 0 });
      await q.send(msg(8, 'C'));
      expect((await q.receive({ max: 10, waitMs: 0 })).map((m) => m.body)).toEqual(['body-8']);
      t += 4999;
      expect(await q.receive({ max: 10, waitMs: 0 })).toEqual([]);
      t += 1; // the head is visible again: it comes first, the rest behind it in one receive
      const again = await q.receive({ max: 10, waitMs: 0 });
      expect(again.map((m) => [m.body, m.receiveCount])).toEqual(
        [1, 2, 3, 4, 5, 6].map((n) => [`body-${n}`, 2]),
      );
    });
  }

  it('message ids are RFC 9562 UUIDv7: version 7, variant 10, ordered by time, unique', () => {
    const re = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const ids = Array.from({ length: 20_000 }, (_, i) => uuidV7(1_700_000_000_000 + (i >> 4)));
    expect(ids.every((id) => re.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]!.slice(0, 13)).toBe('018bcfe5-6800'); // 1_700_000_000_000 ms in hex
    const later = ids.filter((_, i) => i % 16 === 0); // first id of each millisecond
    expect([...later].sort()).toEqual(later);
  });

  it('drops a duplicate dedupId within 5 minutes and answers the first id', async () => {
    const q = queue();
    const a = await q.send({ body: 'x', groupId: 'g', dedupId: 'same' });
    t += DEDUP_WINDOW_MS - 1;
    const b = await q.send({ body: 'y', groupId: 'g', dedupId: 'same' });
    expect(b.messageId).toBe(a.messageId);
    expect(q.depth().visible).toBe(1);
    t += 1;
    const c = await q.send({ body: 'z', groupId: 'g', dedupId: 'same' });
    expect(c.messageId).not.toBe(a.messageId);
    expect(q.depth().visible).toBe(2);
  });

  it('dedups across connections (processes) sharing the file, in both directions', async () => {
    const a = queue();
    const b = queue();
    const first = await a.send({ body: 'x', groupId: 'g', dedupId: 'shared' });
    // b has never looked at the log before: it must still see a's entry.
    expect((await b.send({ body: 'y', groupId: 'g', dedupId: 'shared' })).messageId).toBe(
      first.messageId,
    );
    const fromB = await b.sendBatch([msg(1), msg(2)]);
    const again = await a.sendBatch([msg(2), msg(3), msg(3)]);
    expect(again[0]).toEqual(fromB[1]);
    expect(again[2]).toEqual(again[1]); // a duplicate inside one batch answers the first too
    expect(a.depth().visible).toBe(4); // shared, d-1, d-2, d-3
  });

  it('dedup survives a reopen, and a duplicate after the window is a new message', async () => {
    const a = queue();
    const first = await a.send({ body: 'x', groupId: 'g', dedupId: 'k' });
    await a.close();
    const b = queue();
    t += 60_000;
    expect((await b.send({ body: 'x', groupId: 'g', dedupId: 'k' })).messageId).toBe(
      first.messageId,
    );
    t += DEDUP_WINDOW_MS;
    // Enough sends to run the log purge once; the expired entry must not come back.
    for (let i = 0; i < 100; i++) await b.send(msg(100 + i));
    const late = await b.send({ body: 'x', groupId: 'g', dedupId: 'k' });
    expect(late.messageId).not.toBe(first.messageId);
    expect(b.depth().visible).toBe(102);
  });

  it('a send that cannot get the write lock fails retryable, and its retry is stored once', async () => {
    const reader = queue();
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE'); // another process holds the write lock
    const sender = queue({ busyTimeoutMs: 0 });
    await expect(
      sender.send({ body: 'x', groupId: 'g', dedupId: 'retry-me' }),
    ).rejects.toMatchObject({ code: 'QUEUE_FAILED', details: { retryable: true } });
    other.exec('ROLLBACK');
    other.close();
    const retried = await sender.send({ body: 'x', groupId: 'g', dedupId: 'retry-me' });
    const again = await sender.send({ body: 'x', groupId: 'g', dedupId: 'retry-me' });
    expect(again.messageId).toBe(retried.messageId);
    const got = await reader.receive({ max: 10, waitMs: 0 });
    expect(got.map((m) => m.messageId)).toEqual([retried.messageId]);
  });

  it('ignores a stale receipt handle: the newer delivery survives', async () => {
    const q = queue();
    await q.send(msg(1));
    const [old] = await q.receive({ max: 1, waitMs: 0 });
    t += 30_000;
    const [fresh] = await q.receive({ max: 1, waitMs: 0 });
    await q.delete(old!.receiptHandle);
    expect(q.depth().inFlight).toBe(1);
    await expect(q.changeVisibility(old!.receiptHandle, 60)).rejects.toMatchObject({
      code: 'QUEUE_FAILED',
      details: { code: 'MessageNotInflight' },
    });
    await q.delete(fresh!.receiptHandle);
    expect(q.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
  });

  it('changeVisibility extends the lease and 0 releases the message now', async () => {
    const q = queue();
    await q.send(msg(1));
    const [m] = await q.receive({ max: 1, waitMs: 0 });
    t += 20_000;
    await q.changeVisibility(m!.receiptHandle, 60);
    t += 59_000;
    expect(await q.receive({ max: 1, waitMs: 0 })).toEqual([]);
    await q.changeVisibility(m!.receiptHandle, 0);
    const [again] = await q.receive({ max: 1, waitMs: 0 });
    expect(again?.receiveCount).toBe(2);
  });

  it('long-polls until a message arrives', async () => {
    const q = queue();
    const other = queue();
    const pending = q.receive({ max: 1, waitMs: 2000 });
    setTimeout(() => void other.send(msg(7)), 30);
    const got = await pending;
    expect(got.map((m) => m.body)).toEqual(['body-7']);
  });

  it('returns nothing after waitMs when the queue stays empty', async () => {
    const q = queue();
    expect(await q.receive({ max: 1, waitMs: 30 })).toEqual([]);
  });

  it('an aborted long poll resolves empty at once', async () => {
    const q = queue({ pollIntervalMs: 10 });
    const ctl = new AbortController();
    const started = performance.now();
    const pending = q.receive({ max: 1, waitMs: 60_000, signal: ctl.signal });
    setTimeout(() => ctl.abort(), 20);
    expect(await pending).toEqual([]);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('keeps named queues in one file apart', async () => {
    const a = queue({ name: 'a' });
    const b = queue({ name: 'b' });
    await a.send(msg(1));
    expect(await b.receive({ max: 10, waitMs: 0 })).toEqual([]);
    expect((await a.receive({ max: 10, waitMs: 0 })).length).toBe(1);
  });

  it('two connections never receive the same message', async () => {
    const q = queue();
    const p = queue();
    await q.sendBatch(Array.from({ length: 10 }, (_, i) => msg(i, `g${i % 3}`)));
    await q.sendBatch(Array.from({ length: 10 }, (_, i) => msg(i + 10, `g${i % 3}`)));
    const seen = new Set<string>();
    for (let round = 0; round < 20; round++) {
      for (const c of [q, p]) {
        for (const m of await c.receive({ max: 3, waitMs: 0 })) {
          expect(seen.has(m.messageId)).toBe(false);
          seen.add(m.messageId);
          await c.delete(m.receiptHandle);
        }
      }
    }
    expect(seen.size).toBe(20);
  });

  it('two processes draining one file get disjoint deliveries that cover every message', async () => {
    const q = queue({ name: 'shared', clock: undefined });
    const ids = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const sent = await q.sendBatch(
        Array.from({ length: 10 }, (_, j) => msg(i * 10 + j, `g${(i * 10 + j) % 25}`)),
      );
      for (const s of sent) if (s.ok) ids.add(s.messageId);
    }
    const children = [startChild('shared'), startChild('shared')];
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.proc.stdin.end('go\n');
    const [a = [], b = []] = await Promise.all(children.map((c) => c.done));
    const all = [...a, ...b];
    expect(new Set(all).size).toBe(all.length);
    expect(new Set(all)).toEqual(ids);
    // Both children must have done some of the work for the test to mean anything.
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
  }, 60_000);

  describe('redrive', () => {
    /** Sends `ns` and lets each die: received once, then moved to the DLQ by the next receive. */
    async function deadLetters(q: SqliteQueue, ns: number[], groupOf = (n: number) => `g${n}`) {
      const ids: string[] = [];
      for (const n of ns) ids.push((await q.send(msg(n, groupOf(n)))).messageId);
      for (const m of await q.receive({ max: 10, waitMs: 0 })) {
        await q.changeVisibility(m.receiptHandle, 0);
      }
      expect(await q.receive({ max: 10, waitMs: 0 })).toEqual([]);
      expect(q.dlq().map((d) => d.messageId)).toEqual(ids);
      return ids;
    }

    it('moves every dead letter back as the same message, oldest first, receive count reset', async () => {
      const q = queue({ maxReceives: 1 });
      const ids = await deadLetters(q, [1, 2, 3]);
      const before = q.dlq();
      t += 60_000;
      const result = await q.redrive();
      expect(result).toEqual({ moved: before, notFound: [] });
      expect(q.depth()).toEqual({ visible: 3, inFlight: 0, dlq: 0 });
      const got = await q.receive({ max: 10, waitMs: 0 });
      expect(got.map((m) => [m.messageId, m.body, m.groupId, m.receiveCount, m.sentAt])).toEqual(
        ids.map((id, i) => [id, `body-${i + 1}`, `g${i + 1}`, 1, before[i]!.sentAt]),
      );
      // The DLQ rule starts over: a redriven message dies again only after maxReceives more.
      for (const m of got) await q.changeVisibility(m.receiptHandle, 0);
      expect(await q.receive({ max: 10, waitMs: 0 })).toEqual([]);
      expect(q.dlq().map((d) => [d.messageId, d.dedupId, d.receiveCount, d.movedAt])).toEqual(
        ids.map((id, i) => [id, `d-${i + 1}`, 1, t]),
      );
    });

    it('appends: a redriven message comes after what its group queued meanwhile', async () => {
      const q = queue({ maxReceives: 1 });
      const [dead] = await deadLetters(q, [1], () => 'acct');
      const later = await q.send(msg(2, 'acct'));
      await q.redrive();
      const first = await q.receive({ max: 10, waitMs: 0 });
      expect(first.map((m) => m.messageId)).toEqual([later.messageId, dead]);
    });

    it('by message id: moves those, reports the ones not in the DLQ, leaves the rest', async () => {
      const q = queue({ maxReceives: 1 });
      const [a, b, c] = await deadLetters(q, [1, 2, 3]);
      const result = await q.redrive({ messageIds: [c!, 'no-such-id', a!, c!] });
      expect(result.moved.map((m) => m.messageId)).toEqual([a, c]); // DLQ order, once each
      expect(result.notFound).toEqual(['no-such-id']);
      expect(q.dlq().map((d) => d.messageId)).toEqual([b]);
      // Already moved: not found the second time, nothing queued twice.
      expect(await q.redrive({ messageIds: [a!] })).toEqual({ moved: [], notFound: [a] });
      expect(q.depth()).toEqual({ visible: 2, inFlight: 0, dlq: 1 });
    });

    it('moves nothing when it cannot get the write lock (one transaction)', async () => {
      const q = queue({ maxReceives: 1 });
      await deadLetters(q, [1, 2]);
      const other = new Database(path);
      other.exec('BEGIN IMMEDIATE'); // another process holds the write lock
      const blocked = queue({ maxReceives: 1, busyTimeoutMs: 0 });
      await expect(blocked.redrive()).rejects.toMatchObject({
        code: 'QUEUE_FAILED',
        details: { retryable: true },
      });
      other.exec('ROLLBACK');
      other.close();
      expect(q.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 2 });
    });

    it('while another process drains the queue: each redriven message is delivered once', async () => {
      const q = queue({ name: 'shared', clock: undefined, maxReceives: 1 });
      const dead = await deadLetters(q, [9001, 9002, 9003, 9004, 9005], (n) => `g${n % 2}`);
      const backlog = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const sent = await q.sendBatch(
          Array.from({ length: 10 }, (_, j) => msg(i * 10 + j, `g${(i * 10 + j) % 7}`)),
        );
        for (const s of sent) if (s.ok) backlog.add(s.messageId);
      }
      const drainer = startChild('shared');
      await drainer.ready;
      drainer.proc.stdin.end('go\n');
      const result = await q.redrive(); // while the child receives and deletes
      expect(result.moved.map((m) => m.messageId)).toEqual(dead);
      const seen = await drainer.done;
      expect(new Set(seen).size).toBe(seen.length);
      expect(new Set(seen)).toEqual(new Set([...backlog, ...dead]));
      expect(q.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
    }, 60_000);
  });

  it('recoverAbandoned makes other receivers’ deliveries visible now, not its own', async () => {
    const dead = queue({ receiver: 'dead' });
    const me = queue({ receiver: 'me' });
    await dead.send(msg(1));
    await dead.send(msg(2));
    await dead.send(msg(3));
    const lost = await dead.receive({ max: 2, waitMs: 0 });
    const mine = await me.receive({ max: 10, waitMs: 0 });
    expect(lost).toHaveLength(2);
    expect(mine).toHaveLength(1);
    expect(me.depth()).toMatchObject({ visible: 0, inFlight: 3 });
    expect(await me.recoverAbandoned()).toBe(2);
    expect(me.depth()).toMatchObject({ visible: 2, inFlight: 1 });
    const again = await me.receive({ max: 10, waitMs: 0 });
    expect(again.map((m) => m.messageId).sort()).toEqual(lost.map((m) => m.messageId).sort());
    expect(again.every((m) => m.receiveCount === 2)).toBe(true); // the lost delivery counted
    // The old handles are stale now: deleting with them leaves the new deliveries alone.
    for (const m of lost) await dead.delete(m.receiptHandle);
    expect(me.depth()).toMatchObject({ inFlight: 3 });
    expect(await me.recoverAbandoned()).toBe(0);
  });

  it('an abandoned delivery counts toward the DLQ like any other', async () => {
    const first = queue({ maxReceives: 2, receiver: 'a' });
    const { messageId } = await first.send(msg(1));
    await first.receive({ max: 1, waitMs: 0 });
    const second = queue({ maxReceives: 2, receiver: 'b' });
    await second.recoverAbandoned();
    expect((await second.receive({ max: 1, waitMs: 0 }))[0]?.receiveCount).toBe(2);
    const third = queue({ maxReceives: 2, receiver: 'c' });
    expect(await third.recoverAbandoned()).toBe(1);
    expect(await third.receive({ max: 1, waitMs: 0 })).toEqual([]);
    expect(third.dlq()).toEqual([expect.objectContaining({ messageId, receiveCount: 2 })]);
  });

  it('opens a file from before receivers were recorded (adds the column)', async () => {
    const old = new Database(path);
    old.exec(`CREATE TABLE queue_messages (seq INTEGER PRIMARY KEY AUTOINCREMENT,
      queue TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL, group_id TEXT NOT NULL,
      dedup_id TEXT NOT NULL, sent_at INTEGER NOT NULL, visible_at INTEGER NOT NULL,
      receive_count INTEGER NOT NULL DEFAULT 0, receipt_handle TEXT)`);
    old
      .prepare(
        `INSERT INTO queue_messages (queue, message_id, body, group_id, dedup_id, sent_at, visible_at, receive_count)
         VALUES ('requests', 'm-old', 'b', 'g', 'd', 1, ?, 1)`,
      )
      .run(t + 60_000); // in flight for a receiver of the old version
    old.close();
    const q = queue({ receiver: 'new' });
    expect(await q.recoverAbandoned()).toBe(1);
    expect((await q.receive({ max: 1, waitMs: 0 }))[0]).toMatchObject({
      messageId: 'm-old',
      receiveCount: 2,
    });
  });

  it('rejects nonsense options', () => {
    expect(() => queue({ maxReceives: 0 })).toThrow(/maxReceives/);
  });

  it("a damaged file: QUEUE_FAILED naming the file and SQLite's reason", async () => {
    const q = queue();
    for (let i = 0; i < 50; i++) await q.send({ ...msg(i), body: 'x'.repeat(500) });
    await q.close();
    corruptPages(path);
    await expect(queue().receive({ max: 10, waitMs: 0 })).rejects.toMatchObject({
      code: 'QUEUE_FAILED',
      message: `receive on the embedded queue failed on ${path}: database disk image is malformed (SQLITE_CORRUPT)`,
      details: expect.objectContaining({ path, code: 'SQLITE_CORRUPT', retryable: false }),
    });
  });
});
