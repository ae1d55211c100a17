import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGroupCommit } from './group-commit.ts';
import { openSqlite, type SqliteDatabase } from './open.ts';

let dir: string;
let db: SqliteDatabase;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
  db = openSqlite(join(dir, 'db.sqlite'));
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const insert = (k: string, v: number) => () =>
  db.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run(k, v).changes;
const rows = () => db.prepare('SELECT k, v FROM t ORDER BY k').all();

describe('createGroupCommit', () => {
  it('runs the operations of one turn in one transaction, in call order', async () => {
    const gc = createGroupCommit(db);
    // Another connection sees only committed rows: if the operations shared one transaction,
    // the last one runs while the first one's row is still invisible to it.
    const other = openSqlite(join(dir, 'db.sqlite'));
    const committedRows = () =>
      (other.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
    const results = await Promise.all([
      gc.run(insert('a', 1)),
      gc.run(() => db.prepare("UPDATE t SET v = v + 10 WHERE k = 'a'").run().changes),
      gc.run(() => (db.prepare("SELECT v FROM t WHERE k = 'a'").get() as { v: number }).v),
      gc.run(committedRows),
    ]);
    const afterwards = committedRows();
    other.close();
    expect(results).toEqual([1, 1, 11, 0]);
    expect(afterwards).toBe(1);
  });

  it('nothing is visible, and no promise settles, before the commit', async () => {
    const gc = createGroupCommit(db);
    let settled = false;
    const p = gc.run(insert('a', 1)).then(() => (settled = true));
    expect(gc.pending).toBe(1);
    await Promise.resolve();
    expect(settled).toBe(false);
    expect(rows()).toEqual([]);
    await p;
    expect(rows()).toEqual([{ k: 'a', v: 1 }]);
  });

  it('a failing operation rolls back only its own writes and rejects only its caller', async () => {
    const gc = createGroupCommit(db);
    const [a, b, c] = await Promise.allSettled([
      gc.run(insert('a', 1)),
      gc.run(() => {
        insert('b', 2)();
        insert('a', 3)(); // primary key violation: b's insert must be undone too
      }),
      gc.run(insert('c', 4)),
    ]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect((b as PromiseRejectedResult).reason).toMatchObject({
      code: 'SQLITE_CONSTRAINT_PRIMARYKEY',
    });
    expect(c.status).toBe('fulfilled');
    expect(rows()).toEqual([
      { k: 'a', v: 1 },
      { k: 'c', v: 4 },
    ]);
  });

  it('an operation alone in its group that fails leaves none of its writes and its own error', async () => {
    const gc = createGroupCommit(db);
    await gc.run(insert('a', 1));
    const failed = gc.run(() => {
      insert('b', 2)();
      insert('a', 3)(); // primary key violation: b's insert must be undone too
    });
    await expect(failed).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    expect(db.inTransaction).toBe(false);
    expect(await gc.run(insert('c', 4))).toBe(1);
    expect(rows()).toEqual([
      { k: 'a', v: 1 },
      { k: 'c', v: 4 },
    ]);
  });

  it('when the transaction cannot begin, every operation of the group rejects and nothing is stored', async () => {
    const other = openSqlite(join(dir, 'db.sqlite'), { busyTimeoutMs: 0 });
    db.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE'); // another process holds the write lock
    const gc = createGroupCommit(db);
    const settled = await Promise.allSettled([gc.run(insert('a', 1)), gc.run(insert('b', 2))]);
    other.exec('ROLLBACK');
    other.close();
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect((settled[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'SQLITE_BUSY' });
    expect(rows()).toEqual([]);
  });

  it('waits for another process’s lock on later turns, keeping the event loop free, then commits in order', async () => {
    const other = openSqlite(join(dir, 'db.sqlite'));
    other.exec('BEGIN IMMEDIATE'); // another process holds the write lock...
    const gc = createGroupCommit(db);
    const first = gc.run(insert('a', 1));
    // ...so the event loop keeps turning: timers fire while the group waits.
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 1);
    await new Promise((r) => setTimeout(r, 30));
    const second = gc.run(insert('b', 2)); // queued behind the waiting group
    expect(ticks).toBeGreaterThan(5);
    expect(gc.pending).toBe(2);
    other.exec('ROLLBACK');
    other.close();
    await expect(Promise.all([first, second])).resolves.toEqual([1, 1]);
    clearInterval(ticker);
    expect(rows()).toEqual([
      { k: 'a', v: 1 },
      { k: 'b', v: 2 },
    ]);
  });

  it('gives up after the lock wait with a retryable SQLITE_BUSY, storing nothing', async () => {
    const other = openSqlite(join(dir, 'db.sqlite'));
    other.exec('BEGIN IMMEDIATE');
    const gc = createGroupCommit(db, { lockWaitMs: 40 });
    const started = Date.now();
    await expect(gc.run(insert('a', 1))).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    // lockWaitMs, not the connection's 5 s busy timeout, bounds the wait.
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    expect(Date.now() - started).toBeLessThan(1000);
    other.exec('ROLLBACK');
    other.close();
    expect(rows()).toEqual([]);
    // The connection's own busy timeout is back once the group is done.
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it('splits a long queue into groups of maxOps and flush() runs them at once', async () => {
    const gc = createGroupCommit(db, { maxOps: 3 });
    const all = Array.from({ length: 7 }, (_, i) => gc.run(insert(`k${i}`, i)));
    gc.flush();
    expect(gc.pending).toBe(0);
    expect(rows()).toHaveLength(7);
    await expect(Promise.all(all)).resolves.toEqual([1, 1, 1, 1, 1, 1, 1]);
  });

  it('close() commits what is queued, closes the file, and refuses later writes', async () => {
    const gc = createGroupCommit(db);
    const queued = gc.run(insert('a', 1));
    gc.close();
    expect(db.open).toBe(false);
    await expect(queued).resolves.toBe(1);
    const reader = openSqlite(join(dir, 'db.sqlite'));
    expect(reader.prepare('SELECT k, v FROM t').all()).toEqual([{ k: 'a', v: 1 }]);
    reader.close();
    await expect(gc.run(insert('b', 2))).rejects.toThrow('closed');
    gc.close(); // twice is harmless
  });
});
