// The embedded event bus: one SQLite table is both the bus and its archive.
//
// - publish stores every event of the call together (all or none; group commit, so publishes of
//   one event-loop turn share a transaction) and resolves once committed. It does NOT
//   de-duplicate: publishing the same detail twice (the gateway re-publishing a stored receipt
//   after a crash) stores two events, as EventBridge would deliver two. Consumers de-duplicate
//   by the receipt's jti; the audit accepts identical duplicates.
// - read({from, to}) replays by time, paging by id: memory stays bounded for any archive size.
// - poll/commit give durable per-consumer cursors (the live consumer's position survives restarts).
import { setImmediate as nextTurn } from 'node:timers/promises';
import { errorCodeOf, systemClock } from '@countersign/contracts';
import type { Clock, ReceiptEventDetail, SafeDetails } from '@countersign/contracts';
import type { ArchivedEvent, EventArchive, EventBus, ReceiveOptions } from './ports.ts';
import { busError } from './errors.ts';
import { notifyLocal, waitLocal, wakeupKey } from './local-wakeup.ts';
import { createGroupCommit, openSqlite, describeSqliteFailure } from '@countersign/sqlite';
import type { SqliteSynchronous } from '@countersign/sqlite';

export interface SqliteEventBusOptions {
  readonly path: string;
  readonly clock?: Clock;
  /** 'FULL' also survives power loss (slower). Default 'NORMAL': survives process crashes. */
  readonly synchronous?: SqliteSynchronous;
  /** Long-poll check interval. Default 50 ms. */
  readonly pollIntervalMs?: number;
  /** Rows per page when reading the archive. Default 500. */
  readonly pageSize?: number;
}

export interface SqliteEventBus extends EventBus, EventArchive {
  /** The consumer's committed position ('0' before its first commit). */
  position(consumer: string): string;
  close(): Promise<void>;
}

interface EventRow {
  id: number;
  time: number;
  detail: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bus_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bus_events_time ON bus_events (time);
CREATE TABLE IF NOT EXISTS bus_cursors (
  consumer TEXT PRIMARY KEY,
  position INTEGER NOT NULL
);
`;

function toArchived(row: EventRow): ArchivedEvent {
  return { id: String(row.id), time: row.time, detail: JSON.parse(row.detail) as unknown };
}

function parseId(id: string): number {
  if (!/^[0-9]{1,15}$/.test(id)) throw busError('an event id must be a decimal integer', { id });
  return Number(id);
}

export function createSqliteEventBus(options: SqliteEventBusOptions): SqliteEventBus {
  const clock = options.clock ?? systemClock;
  const pollIntervalMs = Math.max(1, options.pollIntervalMs ?? 50);
  const wakeup = wakeupKey(options.path, 'bus');
  const pageSize = Math.max(1, options.pageSize ?? 500);
  const db = openSqlite(options.path, {
    synchronous: options.synchronous,
    setup: (d) => d.exec(SCHEMA),
  });

  const insert = db.prepare('INSERT INTO bus_events (time, detail) VALUES (?, ?)');
  const firstIdAtOrAfter = db.prepare<[number], { id: number | null }>(
    'SELECT min(id) AS id FROM bus_events WHERE time >= ?',
  );
  const page = db.prepare<[number, number, number, number], EventRow>(
    // `+time`: keep the planner on the primary key (a walk by id), not the time index plus a sort.
    'SELECT id, time, detail FROM bus_events WHERE id > ? AND +time >= ? AND +time < ? ORDER BY id LIMIT ?',
  );
  const after = db.prepare<[number, number], EventRow>(
    'SELECT id, time, detail FROM bus_events WHERE id > ? ORDER BY id LIMIT ?',
  );
  const getCursor = db.prepare<[string], { position: number }>(
    'SELECT position FROM bus_cursors WHERE consumer = ?',
  );
  // Cursors only move forward, so a late commit from a slow duplicate consumer can't rewind.
  const setCursor = db.prepare(
    `INSERT INTO bus_cursors (consumer, position) VALUES (?, ?)
     ON CONFLICT (consumer) DO UPDATE SET position = max(position, excluded.position)`,
  );
  const group = createGroupCommit(db);

  let closed = false;
  const assertOpen = () => {
    if (closed) throw busError('the event bus is closed');
  };
  /** The bus's own errors as they are; SQLite's (and the file's) as BUS_FAILED naming the file. */
  const failed = (what: string, err: unknown, details: SafeDetails = {}) => {
    if (errorCodeOf(err) === 'BUS_FAILED') return err;
    const f = describeSqliteFailure(what, options.path, err);
    return busError(f.message, { ...details, ...f.details }, err);
  };
  /** A read, now. */
  const reading = <T>(what: string, fn: () => T): T => {
    assertOpen();
    try {
      return fn();
    } catch (err) {
      throw failed(what, err);
    }
  };
  const cursorOf = (consumer: string) => getCursor.get(consumer)?.position ?? 0;

  return {
    async publish(events: readonly ReceiptEventDetail[], signal?: AbortSignal) {
      try {
        signal?.throwIfAborted();
        assertOpen();
        const details = events.map((e) => JSON.stringify(e));
        await group.run(() => {
          const now = clock.now();
          for (const d of details) insert.run(now, d);
        });
        notifyLocal(wakeup);
      } catch (err) {
        throw failed(`publishing ${events.length} events to the embedded bus`, err, {
          failed: events.length,
          total: events.length,
        });
      }
    },

    async *read(range) {
      const from = range.from ?? 0;
      const to = range.to ?? Number.MAX_SAFE_INTEGER;
      // Start at the first event at or after `from` (index on time), then page by id.
      const start = reading('reading the archive', () => firstIdAtOrAfter.get(from)?.id);
      if (start === null || start === undefined) return;
      let lastId = start - 1;
      for (;;) {
        const rows = reading('reading the archive', () => page.all(lastId, from, to, pageSize));
        for (const row of rows) yield toArchived(row);
        if (rows.length < pageSize) return;
        // Let other work run between pages: a replay of a big archive must not starve the loop.
        await nextTurn();
        lastId = rows[rows.length - 1]!.id;
      }
    },

    async poll(consumer: string, opts: ReceiveOptions) {
      const max = Math.max(1, Math.floor(opts.max));
      let waited = 0;
      for (;;) {
        if (opts.signal?.aborted) return [];
        const rows = reading('polling the bus', () => after.all(cursorOf(consumer), max));
        if (rows.length > 0 || waited >= opts.waitMs) return rows.map(toArchived);
        const step = Math.min(pollIntervalMs, opts.waitMs - waited);
        const started = Date.now();
        if (!(await waitLocal(wakeup, step, opts.signal))) return [];
        waited += Math.max(1, Date.now() - started);
      }
    },

    async commit(consumer: string, id: string) {
      try {
        assertOpen();
        const position = parseId(id);
        await group.run(() => setCursor.run(consumer, position));
      } catch (err) {
        throw failed('committing the cursor', err);
      }
    },

    position(consumer: string) {
      return reading('reading the cursor', () => String(cursorOf(consumer)));
    },

    close() {
      if (!closed) {
        closed = true;
        group.close(); // commits the writes already accepted, then closes the file
      }
      return Promise.resolve();
    },
  };
}
