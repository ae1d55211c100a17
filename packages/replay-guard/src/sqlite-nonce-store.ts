// The embedded NonceStore on SQLite (WAL, shared by several processes). Every state change runs
// in a BEGIN IMMEDIATE transaction (group commit: the changes of one event-loop turn share one,
// each in its own savepoint), so two processes never both win a claim or a takeover, and a
// completion writes the COMPLETED record and the stream's new head together or not at all.
// Changes are applied in call order, so the store is `ordered`.
//
// `request_sha256` and `claimed_at` (added to older files at open) keep the hash of the token the
// first claim was made for and when; a completion checks the stream head's seq AND hash (the
// receipt's `prev`); `expireLeasesExcept` lets a gateway that holds the data directory's role lock
// (so every other owner is dead) take the dead owners' leases back at once.
//
// Expiry: records are kept until `expiresAt` (exp + skew) and `purgeExpired(now)` drops older
// ones (the embedded stand-in for DynamoDB TTL). Until purged, an expired record still answers
// like a live one: a COMPLETED record keeps refusing, which is the safe side (the token is
// dead anyway, so nothing legitimate needs it gone).
import { errorCodeOf, GENESIS_PREV, systemClock } from '@countersign/contracts';
import type { Clock } from '@countersign/contracts';
import {
  addColumnIfMissing,
  createGroupCommit,
  describeSqliteFailure,
  openSqlite,
} from '@countersign/sqlite';
import type {
  ChainHead,
  ClaimOptions,
  ClaimResult,
  CompleteOptions,
  NonceRecord,
  NonceStore,
} from './ports.ts';
import { chainConflict, nonceConflict, storeError } from './errors.ts';

export interface SqliteNonceStoreOptions {
  readonly path: string;
  /** Used by purgeExpired() and expireLeasesExcept() when no time is given. */
  readonly clock?: Clock;
  readonly busyTimeoutMs?: number;
  /**
   * 'NORMAL' (default, WAL) survives process crashes; 'FULL' also survives power loss (an fsync
   * per commit, much slower). A lost COMPLETED record would let a replay of a still-valid token
   * through, so choose 'FULL' where the host can lose power mid-run.
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
}

export interface SqliteNonceStore extends NonceStore {
  /** Deletes records whose expiresAt is before `now`; returns how many. */
  purgeExpired(now?: number): number;
  /**
   * Ends, as of `now`, the live leases of IN_PROGRESS records held by any owner but `owner`, so
   * their next claim takes over (and reconciles) at once. Only sound when those owners are known
   * to be dead (the caller holds the data directory's role lock). Returns how many.
   */
  expireLeasesExcept(owner: string, now?: number): Promise<number>;
  close(): Promise<void>;
}

interface NonceRow {
  key: string;
  state: 'IN_PROGRESS' | 'COMPLETED';
  owner: string | null;
  lease_until: number | null;
  expires_at: number;
  attempts: number;
  receipt: string | null;
  request: string | null;
  message_id: string | null;
  request_sha256: string | null;
  claimed_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nonces (
  key TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('IN_PROGRESS', 'COMPLETED')),
  owner TEXT,
  lease_until INTEGER,
  expires_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  receipt TEXT,
  request TEXT,
  message_id TEXT,
  request_sha256 TEXT,
  claimed_at INTEGER
);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at);
CREATE TABLE IF NOT EXISTS chain_heads (
  stream TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
);
`;

export function toRecord(row: NonceRow): NonceRecord {
  const sha = {
    ...(row.request_sha256 === null ? {} : { requestSha256: row.request_sha256 }),
    ...(row.claimed_at === null ? {} : { claimedAt: row.claimed_at }),
  };
  if (row.state === 'COMPLETED') {
    return {
      key: row.key,
      state: 'COMPLETED',
      expiresAt: row.expires_at,
      stored: {
        receipt: row.receipt ?? '',
        request: row.request,
        messageId: row.message_id ?? '',
      },
      ...sha,
    };
  }
  return {
    key: row.key,
    state: 'IN_PROGRESS',
    owner: row.owner ?? '',
    leaseUntil: row.lease_until ?? 0,
    expiresAt: row.expires_at,
    attempts: row.attempts,
    ...sha,
  };
}

export function createSqliteNonceStore(options: SqliteNonceStoreOptions): SqliteNonceStore {
  const clock = options.clock ?? systemClock;
  const db = openSqlite(options.path, {
    ...options,
    setup: (d) => {
      d.exec(SCHEMA);
      addColumnIfMissing(d, 'nonces', 'request_sha256', 'TEXT'); // files from before F1
      addColumnIfMissing(d, 'nonces', 'claimed_at', 'INTEGER'); // files from before claimedAt
    },
  });
  const group = createGroupCommit(db);

  const insertClaim = db.prepare(
    `INSERT INTO nonces
       (key, state, owner, lease_until, expires_at, attempts, request_sha256, claimed_at)
     VALUES (?, 'IN_PROGRESS', ?, ?, ?, 1, ?, ?) ON CONFLICT (key) DO NOTHING`,
  );
  const select = db.prepare<[string], NonceRow>('SELECT * FROM nonces WHERE key = ?');
  const takeOver = db.prepare(
    `UPDATE nonces SET owner = ?, lease_until = ?, attempts = attempts + 1,
       expires_at = max(expires_at, ?), request_sha256 = coalesce(request_sha256, ?)
     WHERE key = ? AND state = 'IN_PROGRESS' AND lease_until <= ?`,
  );
  const endLeases = db.prepare<[number, number, string]>(
    `UPDATE nonces SET lease_until = ?
     WHERE state = 'IN_PROGRESS' AND lease_until > ? AND owner IS NOT ?`,
  );
  const markCompleted = db.prepare(
    `UPDATE nonces SET state = 'COMPLETED', owner = NULL, lease_until = NULL,
       expires_at = max(expires_at, ?), receipt = ?, request = ?, message_id = ?
     WHERE key = ?`,
  );
  const insertCompleted = db.prepare(
    `INSERT INTO nonces (key, state, expires_at, attempts, receipt, request, message_id)
     VALUES (?, 'COMPLETED', ?, 0, ?, ?, ?)`,
  );
  const insertRestored = db.prepare(
    `INSERT INTO nonces (key, state, expires_at, attempts, receipt, request, message_id, request_sha256)
     VALUES (?, 'COMPLETED', ?, 0, ?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET state = 'COMPLETED', owner = NULL, lease_until = NULL,
       expires_at = excluded.expires_at, attempts = 0, receipt = excluded.receipt,
       request = excluded.request, message_id = excluded.message_id,
       request_sha256 = excluded.request_sha256
     WHERE state = 'IN_PROGRESS'`,
  );
  const selectHead = db.prepare<[string], { seq: number; hash: string }>(
    'SELECT seq, hash FROM chain_heads WHERE stream = ?',
  );
  const upsertHead = db.prepare(
    `INSERT INTO chain_heads (stream, seq, hash) VALUES (?, ?, ?)
     ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
  );
  const purge = db.prepare('DELETE FROM nonces WHERE expires_at < ?');

  const claimOne = (key: string, o: ClaimOptions): ClaimResult => {
    const leaseUntil = o.now + o.leaseMs;
    const sha = o.requestSha256 ?? null;
    if (insertClaim.run(key, o.owner, leaseUntil, o.expiresAt, sha, o.now).changes === 1) {
      return { claimed: true, takeover: false };
    }
    const existing = toRecord(select.get(key)!);
    if (existing.state === 'IN_PROGRESS' && existing.leaseUntil <= o.now) {
      takeOver.run(o.owner, leaseUntil, o.expiresAt, sha, key, o.now);
      return { claimed: true, takeover: true, previous: existing };
    }
    return { claimed: false, existing };
  };

  const completeOne = (key: string, o: CompleteOptions) => {
    const row = select.get(key);
    if (row && !(row.state === 'IN_PROGRESS' && row.owner === o.owner)) {
      throw nonceConflict(
        key,
        row.state === 'IN_PROGRESS' ? 'IN_PROGRESS for another owner' : row.state,
      );
    }
    const head = selectHead.get(o.head.stream);
    const currentSeq = head?.seq ?? 0;
    if (currentSeq !== o.head.seq - 1) {
      throw chainConflict(o.head.stream, o.head.seq - 1, currentSeq);
    }
    // The seq alone is not enough: another writer may have stored seq - 1 while this receipt
    // was signed on a receipt of its own at that seq that never got stored.
    if ((head?.hash ?? GENESIS_PREV) !== o.prev) {
      throw chainConflict(o.head.stream, o.head.seq - 1, currentSeq, true);
    }
    const { receipt, request, messageId } = o.stored;
    if (row) markCompleted.run(o.expiresAt, receipt, request, messageId, key);
    else insertCompleted.run(key, o.expiresAt, receipt, request, messageId);
    upsertHead.run(o.head.stream, o.head.seq, o.head.hash);
  };

  let closed = false;
  const mapError = (what: string, err: unknown): Error => {
    const code = errorCodeOf(err);
    // Our own conflicts (typed CountersignErrors) pass through as they are.
    if ((code === 'NONCE_CONFLICT' || code === 'CHAIN_CONFLICT') && err instanceof Error)
      return err;
    const f = describeSqliteFailure(`${what} on the embedded nonce store`, options.path, err);
    return storeError(f.message, f.details, err);
  };
  /** Reads, now. */
  const guard = <T>(what: string, fn: () => T): Promise<T> => {
    if (closed) return Promise.reject(storeError('the nonce store is closed'));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(mapError(what, err));
    }
  };
  /** Writes, in the next group transaction. */
  const write = <T>(what: string, fn: () => T): Promise<T> => {
    if (closed) return Promise.reject(storeError('the nonce store is closed'));
    return group.run(fn).catch((err: unknown) => {
      throw mapError(what, err);
    });
  };

  return {
    ordered: true,
    claim: (key, o) => write('claim', () => claimOne(key, o)),
    complete: (key, o) => {
      if (!Number.isInteger(o.head.seq) || o.head.seq < 1) {
        return Promise.reject(storeError('head.seq must be an integer ≥ 1', { seq: o.head.seq }));
      }
      return write('complete', () => completeOne(key, o));
    },
    get: (key) =>
      guard('get', () => {
        const row = select.get(key);
        return row ? toRecord(row) : undefined;
      }),
    head: (stream): Promise<ChainHead> =>
      guard('head', () => {
        const row = selectHead.get(stream);
        return { stream, seq: row?.seq ?? 0, hash: row?.hash ?? GENESIS_PREV };
      }),
    restoreHead: (head) =>
      write('restoreHead', () => {
        const current = selectHead.get(head.stream)?.seq ?? 0;
        if (current >= head.seq) throw chainConflict(head.stream, head.seq - 1, current);
        upsertHead.run(head.stream, head.seq, head.hash);
      }),
    restoreCompleted: (key, r) =>
      write('restoreCompleted', () => {
        const { receipt, request, messageId } = r.stored;
        const sha = r.requestSha256 ?? null;
        return insertRestored.run(key, r.expiresAt, receipt, request, messageId, sha).changes === 1;
      }),
    purgeExpired(now = clock.now()) {
      if (closed) throw storeError('the nonce store is closed');
      return purge.run(now).changes;
    },
    expireLeasesExcept: (owner, now = clock.now()) =>
      write('expireLeasesExcept', () => endLeases.run(now, now, owner).changes),
    close() {
      if (!closed) {
        closed = true;
        group.close(); // commits the writes already accepted, then closes the file
      }
      return Promise.resolve();
    },
  };
}
