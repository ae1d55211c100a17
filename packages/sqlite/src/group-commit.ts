// Group commit: write operations issued in the same event-loop turn share one transaction.
//
// A WAL commit costs far more than the rows it writes (every dirtied page is appended again,
// plus the lock and frame bookkeeping), and the adapters on one file do several small writes per
// message. `run(fn)` queues `fn`; at the end of the turn (setImmediate) the queue runs in one
// BEGIN IMMEDIATE transaction, each operation inside its own SAVEPOINT (when there are several),
// so one failing operation rolls back only its own writes and rejects only its own caller.
// Every caller's promise settles after the COMMIT: a resolved write is as durable as a write
// committed alone.
//
//   turn N:   run(a) run(b) run(c)            (queued, nothing written yet)
//   check:    BEGIN IMMEDIATE; SAVEPOINT a..RELEASE; SAVEPOINT b..ROLLBACK TO (b threw); c; COMMIT
//   then:     a and c resolve, b rejects with its own error
//
// Waiting for another process's write lock does not block the event loop: BEGIN is tried
// without SQLite's busy handler (which sleeps the thread in 1-100 ms steps), and while another
// process holds the lock the group is retried on later turns, ahead of newer operations, for
// up to the connection's busy timeout. If BEGIN still fails then, or COMMIT fails (disk full),
// every operation of that group rejects with that error and nothing of the group is stored.
// So does a group that finds the database's `-shm` truncated under it (see open.ts): touching
// it would kill the process with a SIGBUS.
import { errorCodeOf } from '@countersign/contracts';
import { sqliteFileError } from './errors.ts';
import { assertSharedMemoryIntact, type SqliteDatabase } from './open.ts';

export interface GroupCommit {
  /** Runs `fn` in the next group transaction; settles after that transaction committed. */
  run<T>(fn: () => T): Promise<T>;
  /** Runs the queued operations now (or soon, if another process holds the write lock). */
  flush(): void;
  /** Commits what is queued, then closes the database; later `run` calls reject. */
  close(): void;
  /** Operations queued and not yet run. */
  readonly pending: number;
}

interface Op {
  readonly fn: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

type Outcome =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly err: unknown };

export interface GroupCommitOptions {
  /** Most operations in one transaction (the rest go in the next). Default 512. */
  readonly maxOps?: number;
  /** How long a group waits for another process's write lock. Default: the busy timeout. */
  readonly lockWaitMs?: number;
}

const isBusy = (err: unknown) => errorCodeOf(err)?.startsWith('SQLITE_BUSY') === true;

export function createGroupCommit(
  db: SqliteDatabase,
  options: GroupCommitOptions = {},
): GroupCommit {
  const maxOps = Math.max(1, Math.floor(options.maxOps ?? 512));
  const busyTimeoutMs = Number(db.pragma('busy_timeout', { simple: true }));
  const lockWaitMs = Math.max(0, options.lockWaitMs ?? busyTimeoutMs);
  const queue: Op[] = [];
  let closed = false;
  let scheduled = false;
  let busySince = 0; // when the group at the head of the queue first found the lock taken

  // Called inside the outer transaction, better-sqlite3 runs a transaction function as a
  // SAVEPOINT, rolled back on its own when `fn` throws.
  const savepoint = db.transaction((fn: () => unknown) => fn());
  let began = false;
  const group = db.transaction((ops: readonly Op[]): Outcome[] => {
    began = true;
    // One operation alone needs no SAVEPOINT: when it throws, rolling the group back rolls back
    // exactly its writes, and it rejects with its own error (runGroup's catch).
    if (ops.length === 1) return [{ ok: true, value: ops[0]!.fn() }];
    return ops.map((op): Outcome => {
      try {
        return { ok: true, value: savepoint(op.fn) };
      } catch (err) {
        return { ok: false, err };
      }
    });
  });
  // (exec, not a prepared statement: SQLite applies a PRAGMA when it compiles it.)
  const restoreWait = `PRAGMA busy_timeout = ${Math.floor(busyTimeoutMs)}`;
  const noWait = () => db.exec('PRAGMA busy_timeout = 0');
  const wait = () => db.exec(restoreWait);

  /** Runs one group; false when another process holds the lock and the group should wait. */
  const runGroup = (ops: readonly Op[], blocking: boolean): boolean => {
    let outcomes: Outcome[];
    began = false;
    try {
      // First: even the busy_timeout PRAGMA below reads the wal-index.
      assertSharedMemoryIntact(db);
    } catch (err) {
      for (const op of ops) op.reject(err);
      return true;
    }
    if (!blocking) noWait();
    try {
      outcomes = group.immediate(ops);
    } catch (err) {
      if (!blocking && !began && isBusy(err)) {
        const now = Date.now();
        if (busySince === 0) busySince = now;
        if (now - busySince < lockWaitMs) return false;
      }
      busySince = 0;
      for (const op of ops) op.reject(err);
      return true;
    } finally {
      if (!blocking) wait();
    }
    busySince = 0;
    outcomes.forEach((o, i) => {
      const op = ops[i]!;
      if (o.ok) op.resolve(o.value);
      else op.reject(o.err);
    });
    return true;
  };

  const drain = (blocking: boolean) => {
    scheduled = false;
    while (queue.length > 0) {
      const ops = queue.splice(0, maxOps);
      if (runGroup(ops, blocking)) continue;
      // Locked by another process: try again soon, on the next turns at first, then every ms.
      queue.unshift(...ops);
      scheduled = true;
      if (Date.now() - busySince < 1) setImmediate(flush);
      else setTimeout(flush, 1);
      return;
    }
  };
  const flush = () => drain(false);
  return {
    run<T>(fn: () => T): Promise<T> {
      if (closed) {
        return Promise.reject(sqliteFileError(db.name, 'is closed', { code: 'CLOSED' }));
      }
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    flush,
    close() {
      if (closed) return;
      drain(true); // writes already accepted are committed (waiting for the lock), not dropped
      closed = true;
      db.close();
    },
    get pending() {
      return queue.length;
    },
  };
}
