// Opens a better-sqlite3 database the way every embedded adapter needs it: WAL so readers never
// block the writer, a busy timeout so several processes can share the file, and NORMAL sync
// (durable at each WAL checkpoint; safe against process crashes, which is what we test).
//
// Files that cannot be used fail here, typed (STORE_FAILED) and naming the file, instead of
// later and worse. The one memory mapping WAL needs is the `-shm` wal-index, which every
// process sharing the file maps: if it is truncated under a running process, the next access
// to the lost pages is a SIGBUS that kills the process without a log line. So:
// - the database and its `-wal`/`-shm` must be readable and writable (and the directory
//   writable where they do not exist yet), checked with access(2) before SQLite opens them;
// - the database file itself is never mapped (`mmap_size = 0`): a truncated or damaged database
//   is an SQLITE_CORRUPT / IOERR error naming the file, never a signal;
// - group commit checks the `-shm` has not shrunk before each transaction
//   (`assertSharedMemoryIntact`); what is left is a truncation between that check and SQLite's
//   next access (see the README: never truncate, copy over or delete files of a running process).
import { accessSync, constants, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import Database from 'better-sqlite3';
import { errorCodeOf } from '@countersign/contracts';
import { sqliteFileError } from './errors.ts';

export type SqliteDatabase = Database.Database;

export type SqliteSynchronous = 'NORMAL' | 'FULL';

export interface OpenSqliteOptions {
  /** How long a writer waits for another process's lock before SQLITE_BUSY. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** 'FULL' also survives power loss (an fsync per commit, much slower). Default 'NORMAL'. */
  readonly synchronous?: SqliteSynchronous;
  /**
   * Read-only (audit tools beside a live process): the file must exist and no row is ever
   * written (`query_only`); the WAL settings are left to the writers. The connection itself may
   * still write the `-shm`, so that, if it closes last, it cleans up `-wal` and `-shm` like any.
   */
  readonly readonly?: boolean;
  /** Runs once opened (schema, migrations); its failures name the file like open's own. */
  readonly setup?: (db: SqliteDatabase) => void;
}

/** Pages of WAL after which a commit checkpoints them back (see the README for the numbers). */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;
/** The WAL file is cut back to this after a checkpoint. */
export const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

const inMemory = (path: string) => path === '' || path === ':memory:' || path.startsWith('file:');

/**
 * access(2), never open(2): closing any descriptor of a SQLite file drops every POSIX lock this
 * process holds on it, which would let another process reset a `-shm` we have mapped.
 */
function assertUsable(path: string): void {
  const missing: string[] = [];
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      accessSync(file, constants.R_OK | constants.W_OK);
    } catch (err) {
      const code = errorCodeOf(err);
      if (code === 'ENOENT') {
        missing.push(basename(file));
        continue;
      }
      throw sqliteFileError(
        file,
        'is not readable and writable by this process (every process sharing a data directory needs both, on the database and its -wal and -shm files)',
        { code: code ?? 'EACCES', cause: err },
      );
    }
  }
  if (missing.length === 0) return;
  const dir = dirname(path);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw sqliteFileError(
      path,
      `cannot create ${missing.join(', ')}: the directory ${dir} is not writable`,
      { code: errorCodeOf(err) ?? 'EACCES', cause: err },
    );
  }
}

/** Largest `-shm` size seen per connection: SQLite only ever grows it while anyone has it open. */
const sharedMemory = new WeakMap<SqliteDatabase, { readonly path: string; largest: number }>();

/**
 * Throws STORE_FAILED (code SHM_TRUNCATED) when the database's `-shm` file shrank or vanished
 * since this connection last looked: touching it would be a SIGBUS. A stat, about 5 µs; group
 * commit calls it once per transaction.
 */
export function assertSharedMemoryIntact(db: SqliteDatabase): void {
  const shm = sharedMemory.get(db);
  if (!shm || !db.open) return;
  const size = statSync(shm.path, { throwIfNoEntry: false })?.size;
  if (size === undefined && shm.largest > 0) {
    throw sqliteFileError(shm.path, 'was deleted while this process has it mapped', {
      code: 'SHM_TRUNCATED',
    });
  }
  if (size !== undefined && size < shm.largest) {
    throw sqliteFileError(
      shm.path,
      `shrank from ${shm.largest} to ${size} bytes while this process has it mapped: stop every process on this database before touching its files`,
      { code: 'SHM_TRUNCATED' },
    );
  }
  shm.largest = Math.max(shm.largest, size ?? 0);
}

export function openSqlite(path: string, options: OpenSqliteOptions = {}): SqliteDatabase {
  const busyTimeout = `busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`;
  if (!inMemory(path)) assertUsable(path);
  let db: SqliteDatabase | undefined;
  try {
    if (options.readonly) {
      db = new Database(path, { fileMustExist: true });
      db.pragma('query_only = ON');
      db.pragma(busyTimeout);
      db.pragma('mmap_size = 0');
    } else {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
      db.pragma(busyTimeout);
      db.pragma('foreign_keys = ON');
      db.pragma('mmap_size = 0');
      // Each commit appends every page it dirtied to the WAL, and the checkpoint that copies
      // them back runs inside whichever commit crosses the threshold. A page rewritten by many
      // commits is copied back once per checkpoint, so rarer checkpoints (10,000 pages, 40 MiB,
      // instead of 1,000) copy less in total: random-key inserts measured 40% faster. The WAL
      // file is cut back to 64 MiB after each.
      db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
    }
    options.setup?.(db);
  } catch (err) {
    db?.close();
    throw sqliteFileError(path, 'cannot open the database', { cause: err });
  }
  if (!inMemory(path)) sharedMemory.set(db, { path: `${path}-shm`, largest: 0 });
  return db;
}
