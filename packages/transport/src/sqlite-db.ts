// Opens a better-sqlite3 database the way every embedded adapter needs it: WAL so readers never
// block the writer, a busy timeout so several processes can share the file, and NORMAL sync
// (durable at each WAL checkpoint; safe against process crashes, which is what we test).
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

export interface OpenSqliteOptions {
  /** How long a writer waits for another process's lock before SQLITE_BUSY. */
  readonly busyTimeoutMs?: number;
  /** 'FULL' also survives power loss (an fsync per commit, much slower). Default 'NORMAL'. */
  readonly synchronous?: SqliteSynchronous;
}

export type SqliteSynchronous = 'NORMAL' | 'FULL';

export function openSqlite(path: string, options: OpenSqliteOptions = {}): SqliteDatabase {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  db.pragma('foreign_keys = ON');
  return db;
}
