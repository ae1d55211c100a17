// SQLite adapter of the IdempotencyStore (embedded mode: `.countersign/requester.sqlite`, shared
// with the orders' status table: requester-db.ts).
//
// Every call is one read-decide-write in the group commit's BEGIN IMMEDIATE transaction, so two
// processes sharing the file never both reserve or resume a record, and the decisions are the
// shared transitions of idempotency-store.ts (the memory adapter makes the same ones). While
// another process holds the write lock, a call waits on later event-loop turns (up to the busy
// timeout), not in SQLite's busy handler, which would stop every other request meanwhile.
import { randomUUID } from 'node:crypto';
import { errorCodeOf, isCountersignError } from '@countersign/contracts';
import { assertSharedMemoryIntact } from '@countersign/sqlite';
import { RequesterError } from './errors.ts';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_TTL_MS,
  beginTransition,
  fixTransition,
  parseFixed,
  parseResponse,
  releaseTransition,
  type IdempotencyRecord,
  type IdempotencyStore,
  type IdempotencyStoreOptions,
  type Limits,
  type Transition,
} from './idempotency-store.ts';
import { openRequesterDb } from './requester-db.ts';

interface Row {
  body_sha256: string;
  created_at: number;
  lease_until: number | null;
  owner: string | null;
  fixed: string | null;
  response: string | null;
}

export interface SqliteIdempotencyStoreOptions extends IdempotencyStoreOptions {
  readonly path: string;
  /** How long a call waits for another process's write lock before STORE_FAILED. Default 5000. */
  readonly busyTimeoutMs?: number;
}

// Files written before the record kept its signed requests lack the last three columns; they
// are added in place (a completed record of an older version still replays).
const SCHEMA = `CREATE TABLE IF NOT EXISTS idempotency_keys (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  body_sha256 TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  response TEXT,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID`;
const ADDED_COLUMNS = { lease_until: 'INTEGER', owner: 'TEXT', fixed: 'TEXT' } as const;

export function createSqliteIdempotencyStore(
  options: SqliteIdempotencyStoreOptions,
): IdempotencyStore {
  const ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS;
  const leaseMs = options.leaseMs ?? IDEMPOTENCY_LEASE_MS;
  const where = `idempotency store ${options.path}`;
  const handle = openRequesterDb(options.path, options);
  const { db, group } = handle;
  try {
    db.exec(SCHEMA);
    const have = new Set(
      db
        .prepare<[], { name: string }>('PRAGMA table_info(idempotency_keys)')
        .all()
        .map((c) => c.name),
    );
    for (const [name, type] of Object.entries(ADDED_COLUMNS)) {
      if (!have.has(name)) db.exec(`ALTER TABLE idempotency_keys ADD COLUMN ${name} ${type}`);
    }
  } catch (err) {
    handle.close();
    throw storeFailed(where, 'opening', err);
  }

  const select = db.prepare<[string, string], Row>(
    `SELECT body_sha256, created_at, lease_until, owner, fixed, response
       FROM idempotency_keys WHERE scope = ? AND key = ?`,
  );
  const upsert = db.prepare<
    [string, string, string, number, number, string | null, string | null, string | null]
  >(
    `INSERT INTO idempotency_keys (scope, key, body_sha256, created_at, lease_until, owner, fixed, response)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (scope, key) DO UPDATE SET
       body_sha256 = excluded.body_sha256, created_at = excluded.created_at,
       lease_until = excluded.lease_until, owner = excluded.owner,
       fixed = excluded.fixed, response = excluded.response`,
  );
  const drop = db.prepare<[string, string]>(
    'DELETE FROM idempotency_keys WHERE scope = ? AND key = ?',
  );
  const purge = db.prepare<[number]>('DELETE FROM idempotency_keys WHERE created_at < ?');
  // completeTransition as one statement: the owner's open record gets its answer, and its
  // tokens and owner are dropped. Reading the record back first would parse (and check) every
  // stored token only to drop it; that was a third of this store's time per keyed request.
  const completeOwned = db.prepare<[string, string, string, string]>(
    `UPDATE idempotency_keys SET owner = NULL, fixed = NULL, response = ?
      WHERE scope = ? AND key = ? AND owner = ? AND response IS NULL`,
  );
  let begins = 0;
  let closed = false; // the file may stay open for the status table: refuse calls ourselves

  const toRecord = (row: Row): IdempotencyRecord => ({
    bodySha256: row.body_sha256,
    createdAt: row.created_at,
    leaseUntil: row.lease_until ?? row.created_at + leaseMs,
    owner: row.owner,
    fixed: row.fixed === null ? null : parseFixed(row.fixed, where),
    response: row.response === null ? null : parseResponse(row.response, where),
  });

  /** One operation of the next group; SQLite's failures as STORE_FAILED naming the file. */
  const write = <R>(what: string, fn: () => R): Promise<R> =>
    (closed
      ? Promise.reject(
          new RequesterError('STORE_FAILED', `${where}: the database is closed`, {
            details: { retryable: false },
          }),
        )
      : group.run(fn)
    ).catch((err: unknown) => {
      throw storeFailed(where, what, err);
    });

  /** Reads the record, decides, writes the outcome. */
  const apply = <R>(
    what: string,
    scope: string,
    key: string,
    step: (existing: IdempotencyRecord | undefined, limits: Limits) => Transition<R>,
  ): Promise<R> =>
    write(what, () => {
      const limits: Limits = { now: options.clock.now(), ttlMs, leaseMs };
      const row = select.get(scope, key);
      const { record, result } = step(row && toRecord(row), limits);
      if (record === null) drop.run(scope, key);
      else if (record !== undefined) {
        upsert.run(
          scope,
          key,
          record.bodySha256,
          record.createdAt,
          record.leaseUntil,
          record.owner,
          record.fixed === null ? null : JSON.stringify(record.fixed),
          record.response === null ? null : JSON.stringify(record.response),
        );
      }
      return result;
    });

  return {
    begin: (scope, key, bodySha256, fixed) =>
      apply('begin', scope, key, (existing, limits) => {
        // Expired records are dropped now and then, not on every call.
        if (++begins % 1000 === 1) purge.run(limits.now - ttlMs);
        return beginTransition(existing, bodySha256, limits, randomUUID(), fixed);
      }),
    // A plain read of the last commit (WAL): no lock, no wait. Unsure (closed, an error, a
    // busy file, a truncated -shm) counts as "may exist", which only means reserving before
    // signing (and begin then reports the file typed). Outside group commit, so it checks the
    // -shm itself: reading over a truncated one would be a SIGBUS.
    peek: (scope, key) => {
      if (closed) return Promise.resolve(true);
      try {
        assertSharedMemoryIntact(db);
        return Promise.resolve(select.get(scope, key) !== undefined);
      } catch {
        return Promise.resolve(true);
      }
    },
    fix: (scope, key, owner, fixed) =>
      apply('fix', scope, key, (existing, limits) => fixTransition(existing, owner, fixed, limits)),
    complete: (scope, key, owner, response) =>
      write('complete', () => void completeOwned.run(JSON.stringify(response), scope, key, owner)),
    release: (scope, key, owner) =>
      apply('release', scope, key, (existing, limits) =>
        releaseTransition(existing, owner, limits),
      ),
    close: () => {
      closed = true;
      try {
        handle.close(); // the last user of the file commits what is queued first
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(storeFailed(where, 'close', err));
      }
    },
  };
}

/** STORE_FAILED naming the file and carrying SQLite's code (its message stays in `cause`). */
export function storeFailed(where: string, what: string, err: unknown): Error {
  if (isCountersignError(err)) return err;
  const sqliteCode = errorCodeOf(err) ?? 'SQLITE_ERROR';
  return new RequesterError('STORE_FAILED', `${where}: ${what} failed (${sqliteCode})`, {
    cause: err,
    details: {
      sqliteCode,
      retryable: sqliteCode.startsWith('SQLITE_BUSY') || sqliteCode.startsWith('SQLITE_LOCKED'),
    },
  });
}
