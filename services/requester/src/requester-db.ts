// `<dataDir>/requester.sqlite` holds the Idempotency-Key records and the orders' status. Within
// one process both stores share one connection and one group commit, so the writes of an
// event-loop turn (a key's `fix`, the `remember` of the orders just signed, receipts from the
// bus) commit in one transaction. Opened per path with a reference count; the last close
// commits what is queued and closes the file.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createGroupCommit, openSqlite } from '@countersign/sqlite';
import type { GroupCommit, SqliteDatabase } from '@countersign/sqlite';

export interface RequesterDb {
  readonly db: SqliteDatabase;
  readonly group: GroupCommit;
  /** Releases this handle; the last one commits what is queued and closes the file. */
  close(): void;
}

interface Shared {
  readonly db: SqliteDatabase;
  readonly group: GroupCommit;
  refs: number;
}

const open = new Map<string, Shared>();

export function openRequesterDb(
  path: string,
  options: { readonly busyTimeoutMs?: number | undefined } = {},
): RequesterDb {
  const memory = path === ':memory:'; // a new database each time: never shared
  // One connection per file and busy timeout (a store that must give up sooner gets its own).
  const key = memory ? '' : `${resolve(path)}\0${options.busyTimeoutMs ?? ''}`;
  let shared = memory ? undefined : open.get(key);
  if (!shared) {
    if (!memory) mkdirSync(dirname(path), { recursive: true });
    const db = openSqlite(
      path,
      options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs },
    );
    shared = { db, group: createGroupCommit(db), refs: 0 };
    if (!memory) open.set(key, shared);
  }
  shared.refs += 1;
  const s = shared;
  let closed = false;
  return {
    db: s.db,
    group: s.group,
    close() {
      if (closed) return;
      closed = true;
      s.refs -= 1;
      if (s.refs > 0) return;
      if (open.get(key) === s) open.delete(key);
      s.group.close(); // commits what is queued, then closes the file
    },
  };
}
