// The IdempotencyStore contract against the memory and SQLite adapters (DynamoDB runs it on moto
// in test/requester-dynamo-idempotency.test.ts), and what only the SQLite file adds: upgrade of an
// older file, and waiting for another connection's write lock without stopping the event loop.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_LEASE_MS, createMemoryIdempotencyStore } from './idempotency-store.ts';
import { createSqliteIdempotencyStore } from './sqlite-idempotency-store.ts';
import { describeIdempotencyStoreContract } from './testing/idempotency-store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'idem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const freshPath = () => join(dir, `${Math.random().toString(36).slice(2)}.sqlite`);

describeIdempotencyStoreContract('memory', () => ({
  open: (clock) => createMemoryIdempotencyStore({ clock }),
  shared: false,
}));

const contractFile = freshPath();
describeIdempotencyStoreContract('sqlite', () => ({
  open: (clock) => createSqliteIdempotencyStore({ clock, path: contractFile }),
  shared: true,
  where: contractFile,
  overwriteFixed: (scope, key, raw) => {
    const db = new Database(contractFile);
    try {
      db.prepare('UPDATE idempotency_keys SET fixed = ? WHERE scope = ? AND key = ?').run(
        raw,
        scope,
        key,
      );
    } finally {
      db.close();
    }
    return Promise.resolve();
  },
}));

describe('sqlite idempotency store', () => {
  it('upgrades a file of the previous version in place (its completed records still replay)', async () => {
    const path = freshPath();
    const old = new Database(path);
    old.exec(`CREATE TABLE idempotency_keys (scope TEXT NOT NULL, key TEXT NOT NULL,
      body_sha256 TEXT NOT NULL, created_at INTEGER NOT NULL, response TEXT,
      PRIMARY KEY (scope, key)) WITHOUT ROWID`);
    old
      .prepare('INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, ?)')
      .run('s', 'k', 'h', 1000, JSON.stringify({ status: 202, body: { jti: 'j' } }));
    old
      .prepare('INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, NULL)')
      .run('s', 'busy', 'h', 1000);
    old.close();
    let now = 2000;
    const s = createSqliteIdempotencyStore({ clock: { now: () => now }, path });
    expect(await s.begin('s', 'k', 'h')).toEqual({
      state: 'replay',
      response: { status: 202, body: { jti: 'j' } },
    });
    // An old in-progress row's lease counts from its creation.
    expect(await s.begin('s', 'busy', 'h')).toEqual({ state: 'in_progress' });
    now = 1000 + IDEMPOTENCY_LEASE_MS;
    expect((await s.begin('s', 'busy', 'h')).state).toBe('new');
    await s.close?.();
  });

  it('waits for another connection’s write lock on later turns of the event loop', async () => {
    const path = freshPath();
    const s = createSqliteIdempotencyStore({ clock: { now: () => 0 }, path });
    await s.begin('s', 'warm', 'h'); // the table exists
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    let settled = false;
    const pending = s.begin('s', 'k', 'h').finally(() => (settled = true));
    // Timers keep firing meanwhile: the wait is not SQLite's busy handler sleeping the thread.
    let ticks = 0;
    await new Promise<void>((done) => {
      const t = setInterval(() => {
        if (++ticks === 5) {
          clearInterval(t);
          done();
        }
      }, 5);
    });
    expect(settled).toBe(false);
    other.exec('COMMIT');
    expect((await pending).state).toBe('new');
    other.close();
    await s.close?.();
  });

  it('after the busy timeout: STORE_FAILED with SQLite’s code in details and the cause kept', async () => {
    const path = freshPath();
    const s = createSqliteIdempotencyStore({ clock: { now: () => 0 }, path, busyTimeoutMs: 50 });
    await s.begin('s', 'warm', 'h');
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const err = (await s.begin('s', 'k', 'h').catch((e: unknown) => e)) as Error & {
      code: string;
      details: Record<string, unknown>;
      cause: { code: string };
    };
    other.exec('ROLLBACK');
    other.close();
    expect(err).toMatchObject({
      code: 'STORE_FAILED',
      details: { sqliteCode: 'SQLITE_BUSY', retryable: true },
      cause: { code: 'SQLITE_BUSY' },
    });
    expect(err.message).toContain(path);
    await s.close?.();
  });

  it('a -shm truncated under the process: the lock-free reads (peek, status get) are typed errors, not a SIGBUS', () => {
    const child = fileURLToPath(new URL('./testing/shm-truncation-child.ts', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', child, freshPath()], {
      encoding: 'utf8',
    });
    const lines = run.stdout.split('\n').filter(Boolean);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { peek: true }, // "may exist": the key is reserved first, and begin says why it cannot
      { get: ['STORE_FAILED', 'SHM_TRUNCATED'] },
      { begin: ['STORE_FAILED', 'SHM_TRUNCATED'] },
    ]);
  });
});
