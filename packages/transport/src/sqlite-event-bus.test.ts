import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { corruptPages } from '@countersign/sqlite/testing';
import { createSqliteEventBus } from './sqlite-event-bus.ts';
import type { SqliteEventBus } from './sqlite-event-bus.ts';
import type { ArchivedEvent } from './ports.ts';

let dir: string;
let path: string;
let t = 1_700_000_000_000;
const clock = { now: () => t };
const opened: SqliteEventBus[] = [];

function bus(): SqliteEventBus {
  const b = createSqliteEventBus({ path, clock, pollIntervalMs: 5, pageSize: 3 });
  opened.push(b);
  return b;
}

const detail = (n: number) => ({
  receipt: `eyJh.eyJ${n}.c2ln`,
  request: null,
  messageId: `m-${n}`,
});

async function collect(it: AsyncIterable<ArchivedEvent>): Promise<ArchivedEvent[]> {
  const out: ArchivedEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cs-bus-'));
  path = join(dir, 'bus.db');
  t = 1_700_000_000_000;
});
afterEach(async () => {
  for (const b of opened.splice(0)) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('createSqliteEventBus', () => {
  it('publishes and reads back every event in order, across pages', async () => {
    const b = bus();
    await b.publish([detail(1), detail(2), detail(3), detail(4)]);
    t += 1000;
    await b.publish([detail(5)]);
    const all = await collect(b.read({}));
    expect(all.map((e) => e.detail)).toEqual([1, 2, 3, 4, 5].map(detail));
    expect(all.map((e) => e.id)).toEqual(['1', '2', '3', '4', '5']);
    expect(all[4]!.time).toBe(t);
  });

  it('reads a time range: from inclusive, to exclusive', async () => {
    const b = bus();
    for (let n = 1; n <= 6; n++) {
      await b.publish([detail(n)]);
      t += 10;
    }
    const start = 1_700_000_000_000;
    const got = await collect(b.read({ from: start + 20, to: start + 50 }));
    expect(got.map((e) => (e.detail as { messageId: string }).messageId)).toEqual([
      'm-3',
      'm-4',
      'm-5',
    ]);
    expect(await collect(b.read({ from: t + 1 }))).toEqual([]);
  });

  it('stores a re-published identical event twice, as EventBridge would deliver it twice', async () => {
    const b = bus();
    await b.publish([detail(1)]);
    await b.publish([detail(1)]);
    expect((await collect(b.read({}))).map((e) => e.detail)).toEqual([detail(1), detail(1)]);
  });

  it('polls after the committed position and the position survives a reopen', async () => {
    const b = bus();
    await b.publish([1, 2, 3, 4, 5].map(detail));
    const first = await b.poll('audit', { max: 2, waitMs: 0 });
    expect(first.map((e) => e.id)).toEqual(['1', '2']);
    // Not committed yet: the same events come again.
    expect((await b.poll('audit', { max: 2, waitMs: 0 })).map((e) => e.id)).toEqual(['1', '2']);
    await b.commit('audit', '2');
    await b.close();
    const again = bus();
    expect(again.position('audit')).toBe('2');
    expect((await again.poll('audit', { max: 10, waitMs: 0 })).map((e) => e.id)).toEqual([
      '3',
      '4',
      '5',
    ]);
    // Another consumer has its own cursor; cursors never move back.
    expect((await again.poll('other', { max: 1, waitMs: 0 })).map((e) => e.id)).toEqual(['1']);
    await again.commit('audit', '1');
    expect(again.position('audit')).toBe('2');
  });

  it('long-polls until an event is published, and an abort resolves empty', async () => {
    const b = bus();
    const writer = bus();
    const pending = b.poll('live', { max: 10, waitMs: 2000 });
    setTimeout(() => void writer.publish([detail(9)]), 30);
    expect((await pending).map((e) => e.detail)).toEqual([detail(9)]);
    await b.commit('live', '1');
    const ctl = new AbortController();
    const aborted = b.poll('live', { max: 10, waitMs: 60_000, signal: ctl.signal });
    setTimeout(() => ctl.abort(), 20);
    expect(await aborted).toEqual([]);
  });

  it('rejects a malformed commit id', async () => {
    const b = bus();
    await expect(b.commit('x', 'abc')).rejects.toMatchObject({ code: 'BUS_FAILED' });
  });

  it('publishes all events of a call or none', async () => {
    const b = bus();
    const cyclic: Record<string, unknown> = { receipt: 'a.b.c', request: null, messageId: 'm' };
    cyclic.self = cyclic;
    await expect(
      b.publish([detail(1), cyclic as unknown as ReturnType<typeof detail>]),
    ).rejects.toMatchObject({ code: 'BUS_FAILED' });
    expect(await collect(b.read({}))).toEqual([]);
  });

  it('reads a large archive with bounded memory (pages, never loads all)', async () => {
    // 300,000 events of ~250 bytes: loading them all would hold well over 100 MB of objects.
    const raw = new Database(path);
    raw.pragma('journal_mode = WAL');
    const b = createSqliteEventBus({ path, clock });
    opened.push(b);
    const insert = raw.prepare('INSERT INTO bus_events (time, detail) VALUES (?, ?)');
    const padding = 'x'.repeat(200);
    raw.transaction(() => {
      for (let i = 0; i < 300_000; i++) {
        insert.run(
          t + i,
          JSON.stringify({ receipt: `a.${i}.c`, request: padding, messageId: `m${i}` }),
        );
      }
    })();
    raw.close();
    const base = process.memoryUsage().heapUsed;
    let peak = base;
    let count = 0;
    let lastId = 0;
    let ordered = true;
    for await (const e of b.read({})) {
      count++;
      const id = Number(e.id);
      if (id <= lastId) ordered = false;
      lastId = id;
      if (count % 5000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    expect(count).toBe(300_000);
    expect(ordered).toBe(true);
    expect(peak - base).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);

  it("a damaged file: BUS_FAILED naming the file and SQLite's reason, on read and publish", async () => {
    const b = bus();
    await b.publish(
      Array.from({ length: 60 }, (_, i) => ({ ...detail(i), request: 'x'.repeat(500) })),
    );
    await b.close();
    corruptPages(path);
    const damaged = bus();
    const named = {
      code: 'BUS_FAILED',
      message: expect.stringMatching(new RegExp(`on ${path}: .*\\(SQLITE_CORRUPT\\)`)),
      details: expect.objectContaining({ path, code: 'SQLITE_CORRUPT' }),
    };
    await expect(collect(damaged.read({}))).rejects.toMatchObject(named);
    await expect(damaged.poll('c', { max: 10, waitMs: 0 })).rejects.toMatchObject(named);
    await expect(damaged.publish([detail(99)])).rejects.toMatchObject({ code: 'BUS_FAILED' });
  });
});
