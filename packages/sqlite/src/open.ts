// Opens a better-sqlite3 database the way every embedded adapter needs it: WAL so readers never
// block the writer, a busy timeout so several processes can share the file, and NORMAL sync
// (durable at each WAL checkpoint; safe against process crashes, which is what we test).
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

export type SqliteSynchronous = 'NORMAL' | 'FULL';

export interface OpenSqliteOptions {
  /** How long a writer waits for another process's lock before SQLITE_BUSY. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** 'FULL' also survives power loss (an fsync per commit, much slower). Default 'NORMAL'. */
  readonly synchronous?: SqliteSynchronous;
  /**
   * Read-only (audit tools beside a live process): the file must exist, nothing is created,
   * migrated or written, and the WAL settings are left to the writers.
   */
  readonly readonly?: boolean;
}

export function openSqlite(path: string, options: OpenSqliteOptions = {}): SqliteDatabase {
  if (options.readonly) {
    const reader = new Database(path, { readonly: true, fileMustExist: true });
    reader.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    return reader;
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  db.pragma('foreign_keys = ON');
  // Each commit appends every page it dirtied to the WAL, and the checkpoint that copies them
  // back runs inside whichever commit crosses the threshold. A page rewritten by many commits
  // is copied back once per checkpoint, so rarer checkpoints (10,000 pages, 40 MiB, instead of
  // 1,000) copy less in total: random-key inserts measured 40% faster. The WAL file is cut
  // back to 64 MiB after each.
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  return db;
}
