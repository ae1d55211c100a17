// One live process per role of an embedded data directory (the gateway, say), enforced by the OS.
//
// The lock is a small SQLite file, `<dataDir>/locks/<role>.lock`, held in an open
// `BEGIN EXCLUSIVE` transaction for as long as the process wants the role. The kernel drops
// the fcntl locks behind it when the process dies (kill -9 included), so a dead holder never
// leaves a stale lock, and a second holder fails at once (busy timeout 0) with `LOCKED`.
// Holding the lock therefore proves that every earlier holder is gone: that is what lets a new
// gateway take back, immediately, the deliveries and leases a killed one left in flight.
//
// The holder's pid is written beside it (`<role>.pid`, best effort) only to name it in the
// error. Nothing in this process may open the `.lock` file by other means (fs.readFile, say):
// POSIX drops all of a process's fcntl locks on a file when ANY descriptor of it is closed.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { CountersignError, errorCodeOf, systemClock } from '@countersign/contracts';
import type { Clock } from '@countersign/contracts';

export type RoleLockError = CountersignError<'LOCKED'>;

export interface RoleLock {
  readonly role: string;
  /** The lock file. */
  readonly path: string;
  /** Gives the role up (idempotent). Process exit releases it too. */
  release(): void;
}

const ROLE = /^[a-z][a-z0-9-]{0,31}$/;
// Locks held by this process: the connection must stay open (and referenced) while held.
const held = new Set<Database.Database>();

interface Holder {
  readonly pid: number;
  readonly since: string;
}

function readHolder(pidFile: string): Holder | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(pidFile, 'utf8'));
    const h = value as Partial<Holder> | null;
    return typeof h?.pid === 'number' && typeof h.since === 'string'
      ? { pid: h.pid, since: h.since }
      : undefined;
  } catch {
    return undefined; // no record, or one being written: the error just names no pid
  }
}

function lockedError(role: string, dataDir: string, path: string, pidFile: string): RoleLockError {
  const holder = readHolder(pidFile);
  const who = holder ? `pid ${holder.pid}, since ${holder.since}` : 'pid not recorded';
  return new CountersignError(
    'LOCKED',
    `another process holds the ${role} role of ${dataDir} (${who}; lock file ${path}): ` +
      `stop it first, or use another data directory`,
    { details: { role, path, pid: holder?.pid ?? null } },
  );
}

/**
 * Takes `role` for this process, or throws `LOCKED` (naming the holder's pid when recorded)
 * without waiting. Kept until `release()` or the process ends, however it ends.
 */
export function acquireRoleLock(
  dataDir: string,
  role: string,
  options: { readonly clock?: Clock } = {},
): RoleLock {
  if (!ROLE.test(role)) {
    throw new CountersignError(
      'CONFIG_INVALID',
      `a role is [a-z][a-z0-9-]{0,31}, got "${role.slice(0, 40)}"`,
    );
  }
  const dir = join(resolve(dataDir), 'locks');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${role}.lock`);
  const pidFile = join(dir, `${role}.pid`);
  const db = new Database(path, { timeout: 0 });
  try {
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    const code = errorCodeOf(err);
    if (code?.startsWith('SQLITE_BUSY')) {
      throw lockedError(role, dataDir, path, pidFile);
    }
    throw new CountersignError('STORE_FAILED', `the lock file ${path} cannot be used`, {
      cause: err,
      details: { role, path, code: code ?? null },
    });
  }
  held.add(db);
  const since = new Date((options.clock ?? systemClock).now()).toISOString();
  try {
    writeFileSync(pidFile, JSON.stringify({ pid: process.pid, since }), { mode: 0o600 });
  } catch {
    // Only for the message a second holder gets.
  }
  return {
    role,
    path,
    release() {
      if (!held.delete(db)) return;
      if (readHolder(pidFile)?.pid === process.pid) rmSync(pidFile, { force: true });
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
