// Test fixture (not a test), run as its own process because the failure it guards against is a
// SIGBUS: opens a database, writes, truncates its `-shm` as another process could, then writes
// again. `raw`: plain better-sqlite3 (the process dies of SIGBUS, saying nothing); `guarded`:
// openSqlite with group commit (prints the typed error; SQLite's own close at teardown may still
// touch the lost pages, but by then the error is out).
import { truncateSync } from 'node:fs';
import Database from 'better-sqlite3';
import { createGroupCommit } from '../group-commit.ts';
import { openSqlite } from '../open.ts';

const [path, mode] = process.argv.slice(2);
if (!path || (mode !== 'raw' && mode !== 'guarded')) {
  throw new TypeError('usage: shm-truncation-child.ts <path> raw|guarded');
}
if (mode === 'raw') {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (v TEXT)');
  db.prepare('INSERT INTO t VALUES (?)').run('before');
  truncateSync(`${path}-shm`, 0);
  db.prepare('INSERT INTO t VALUES (?)').run('after');
  process.stdout.write('survived\n');
} else {
  const db = openSqlite(path, { setup: (d) => d.exec('CREATE TABLE t (v TEXT)') });
  const group = createGroupCommit(db);
  const insert = db.prepare('INSERT INTO t VALUES (?)');
  await group.run(() => insert.run('before'));
  truncateSync(`${path}-shm`, 0);
  try {
    await group.run(() => insert.run('after'));
    process.stdout.write('written\n');
  } catch (err) {
    const e = err as { code?: string; message?: string; details?: Record<string, unknown> };
    process.stdout.write(
      `${JSON.stringify({ code: e.code, message: e.message, details: e.details })}\n`,
    );
  }
}
