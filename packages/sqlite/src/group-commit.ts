// Group commit: write operations issued in the same event-loop turn share one transaction.
//
// A WAL commit costs far more than the rows it writes (every dirtied page is appended again,
// plus the lock and frame bookkeeping), and the adapters on one file do several small writes per
// message. `run(fn)` queues `fn`; at the end of the turn (setImmediate) the queue runs in one
// BEGIN IMMEDIATE transaction, each operation inside its own SAVEPOINT, so one failing operation
// rolls back only its own writes and rejects only its own caller. Every caller's promise settles
// after the COMMIT: a resolved write is as durable as a write committed alone.
//
//   turn N:   run(a) run(b) run(c)            (queued, nothing written yet)
//   check:    BEGIN IMMEDIATE; SAVEPOINT a..RELEASE; SAVEPOINT b..ROLLBACK TO (b threw); c; COMMIT
//   then:     a and c resolve, b rejects with its own error
//
// If BEGIN or COMMIT itself fails (SQLITE_BUSY after the busy timeout, disk full), every
// operation of that group rejects with that error and nothing of the group is stored.
import type { SqliteDatabase } from './open.ts';

export interface GroupCommit {
  /** Runs `fn` in the next group transaction; settles after that transaction committed. */
  run<T>(fn: () => T): Promise<T>;
  /** Runs the queued operations now. */
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
}

export function createGroupCommit(
  db: SqliteDatabase,
  options: GroupCommitOptions = {},
): GroupCommit {
  const maxOps = Math.max(1, Math.floor(options.maxOps ?? 512));
  const queue: Op[] = [];
  let closed = false;
  let scheduled = false;

  // Called inside the outer transaction, better-sqlite3 runs a transaction function as a
  // SAVEPOINT, rolled back on its own when `fn` throws.
  const savepoint = db.transaction((fn: () => unknown) => fn());
  const group = db.transaction((ops: readonly Op[]): Outcome[] =>
    ops.map((op): Outcome => {
      try {
        return { ok: true, value: savepoint(op.fn) };
      } catch (err) {
        return { ok: false, err };
      }
    }),
  );

  const runGroup = (ops: readonly Op[]) => {
    let outcomes: Outcome[];
    try {
      outcomes = group.immediate(ops);
    } catch (err) {
      for (const op of ops) op.reject(err);
      return;
    }
    outcomes.forEach((o, i) => {
      const op = ops[i]!;
      if (o.ok) op.resolve(o.value);
      else op.reject(o.err);
    });
  };

  const flush = () => {
    scheduled = false;
    while (queue.length > 0) runGroup(queue.splice(0, maxOps));
  };

  return {
    run<T>(fn: () => T): Promise<T> {
      if (closed) return Promise.reject(new Error('the database is closed'));
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
      flush(); // writes already accepted are committed, not dropped
      closed = true;
      db.close();
    },
    get pending() {
      return queue.length;
    },
  };
}
