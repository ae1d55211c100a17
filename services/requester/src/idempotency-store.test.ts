// The contract every IdempotencyStore adapter keeps (memory and SQLite run the same cases), and
// what only the SQLite file adds: reopen, upgrade of an older file, corrupt records, and waiting
// for another connection's write lock without stopping the event loop.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { newJti } from '@countersign/contracts';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_TTL_MS,
  createMemoryIdempotencyStore,
  type BeginResult,
  type FixedRequest,
  type IdempotencyStore,
} from './idempotency-store.ts';
import { createSqliteIdempotencyStore } from './sqlite-idempotency-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'idem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const freshPath = () => join(dir, `${Math.random().toString(36).slice(2)}.sqlite`);

/** A token-shaped string whose unverified payload names `jti` and `sub` (no signature needed here). */
function tokenFor(jti: string, sub: string): string {
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'txn+jwt' })}.${part({ jti, sub })}.c2lnbmF0dXJl`;
}
function signed(account = 'acct-1'): FixedRequest & { ok: true } {
  const jti = newJti();
  return { ok: true, jti, account, token: tokenFor(jti, account) };
}

const adapters: [string, (clock: { now(): number }) => IdempotencyStore][] = [
  ['memory', (clock) => createMemoryIdempotencyStore({ clock })],
  ['sqlite', (clock) => createSqliteIdempotencyStore({ clock, path: freshPath() })],
];

function ownerOf(b: BeginResult): string {
  if (b.state !== 'new' && b.state !== 'resume')
    throw new Error(`expected a reservation: ${b.state}`);
  return b.owner;
}

describe.each(adapters)('%s idempotency store', (_name, make) => {
  const response = { status: 202, body: { jti: 'j', messageId: 'm' } };

  it('reserves, replays the same body, and conflicts on another body', async () => {
    let now = 1_000_000;
    const s = make({ now: () => now });
    const owner = ownerOf(await s.begin('key-a', 'k1', 'h1'));
    expect(await s.begin('key-a', 'k1', 'h1')).toEqual({ state: 'in_progress' });
    expect(await s.begin('key-a', 'k1', 'h2')).toEqual({ state: 'conflict' });
    await s.complete('key-a', 'k1', owner, response);
    now += IDEMPOTENCY_TTL_MS - 1;
    expect(await s.begin('key-a', 'k1', 'h1')).toEqual({ state: 'replay', response });
    expect(await s.begin('key-a', 'k1', 'h2')).toEqual({ state: 'conflict' });
    await s.close?.();
  });

  it('scopes keys per API key and forgets them after 24 h', async () => {
    let now = 5_000;
    const s = make({ now: () => now });
    await s.complete('key-a', 'k1', ownerOf(await s.begin('key-a', 'k1', 'h1')), response);
    expect((await s.begin('key-b', 'k1', 'h2')).state).toBe('new');
    now += IDEMPOTENCY_TTL_MS;
    expect((await s.begin('key-a', 'k1', 'h2')).state).toBe('new');
    await s.close?.();
  });

  it('a reservation with nothing signed: release drops it; abandoned, the next begin reserves it afresh', async () => {
    let now = 0;
    const s = make({ now: () => now });
    await s.release('s', 'k', ownerOf(await s.begin('s', 'k', 'h')));
    const first = ownerOf(await s.begin('s', 'k', 'h'));
    now += IDEMPOTENCY_LEASE_MS - 1;
    expect(await s.begin('s', 'k', 'h')).toEqual({ state: 'in_progress' });
    now += 1;
    // Nothing left the requester: even another body may take the key now.
    const second = await s.begin('s', 'k', 'other');
    expect(second).toEqual({ state: 'new', owner: expect.any(String) });
    expect(ownerOf(second)).not.toBe(first);
    await s.close?.();
  });

  it('a record with signed requests is resumed after the lease with the same tokens, never reserved afresh', async () => {
    let now = 0;
    const s = make({ now: () => now });
    const first = ownerOf(await s.begin('s', 'k', 'h'));
    const fixed: FixedRequest[] = [signed(), { ok: false, code: 'SIGNING_FAILED', message: 'no' }];
    expect(await s.fix('s', 'k', first, fixed)).toBe(true);
    now += IDEMPOTENCY_LEASE_MS - 1;
    expect(await s.begin('s', 'k', 'h')).toEqual({ state: 'in_progress' });
    now += 1;
    // Another body under the key that owns these tokens is a conflict, not a takeover.
    expect(await s.begin('s', 'k', 'other')).toEqual({ state: 'conflict' });
    const resumed = await s.begin('s', 'k', 'h');
    expect(resumed).toEqual({ state: 'resume', owner: expect.any(String), fixed });
    const second = ownerOf(resumed);
    expect(second).not.toBe(first);
    // The first owner lost the record: it may no longer fix, complete or release it.
    expect(await s.fix('s', 'k', first, [signed()])).toBe(false);
    await s.complete('s', 'k', first, { status: 500, body: 'stale' });
    await s.release('s', 'k', first);
    expect(await s.begin('s', 'k', 'h')).toEqual({ state: 'in_progress' });
    await s.complete('s', 'k', second, response);
    expect(await s.begin('s', 'k', 'h')).toEqual({ state: 'replay', response });
    await s.close?.();
  });

  it('fix refuses an owner whose reservation was taken over (a slow signer sends nothing)', async () => {
    let now = 0;
    const s = make({ now: () => now });
    const slow = ownerOf(await s.begin('s', 'k', 'h'));
    now += IDEMPOTENCY_LEASE_MS;
    const quick = ownerOf(await s.begin('s', 'k', 'h'));
    expect(await s.fix('s', 'k', quick, [signed()])).toBe(true);
    expect(await s.fix('s', 'k', slow, [signed()])).toBe(false);
    // A record's requests are fixed once, even by its owner.
    expect(await s.fix('s', 'k', quick, [signed()])).toBe(false);
    await s.close?.();
  });

  it('release of a record with signed requests ends its lease: a retry resumes at once', async () => {
    const now = 0;
    const s = make({ now: () => now });
    const owner = ownerOf(await s.begin('s', 'k', 'h'));
    const fixed = [signed()];
    await s.fix('s', 'k', owner, fixed);
    await s.release('s', 'k', owner);
    expect(await s.begin('s', 'k', 'h')).toEqual({
      state: 'resume',
      owner: expect.any(String),
      fixed,
    });
    await s.close?.();
  });

  it('release never drops a completed record; complete keeps the answer, not the tokens', async () => {
    const now = 0;
    const s = make({ now: () => now });
    const owner = ownerOf(await s.begin('s', 'k', 'h'));
    await s.fix('s', 'k', owner, [signed()]);
    await s.complete('s', 'k', owner, response);
    await s.release('s', 'k', owner);
    expect(await s.begin('s', 'k', 'h')).toEqual({ state: 'replay', response });
    await s.close?.();
  });
});

describe('sqlite idempotency store', () => {
  it('keeps reservations, tokens and answers across a reopen of the file', async () => {
    const path = freshPath();
    let now = 42;
    const clock = { now: () => now };
    const a = createSqliteIdempotencyStore({ clock, path });
    await a.complete('s', 'done', ownerOf(await a.begin('s', 'done', 'h')), {
      status: 207,
      body: { items: [1] },
    });
    const fixed = [signed()];
    await a.fix('s', 'half', ownerOf(await a.begin('s', 'half', 'h')), fixed);
    await a.close?.(); // the process "died" with `half` sent but not answered
    const b = createSqliteIdempotencyStore({ clock, path });
    now += IDEMPOTENCY_LEASE_MS;
    expect(await b.begin('s', 'done', 'h')).toEqual({
      state: 'replay',
      response: { status: 207, body: { items: [1] } },
    });
    expect(await b.begin('s', 'half', 'h')).toMatchObject({ state: 'resume', fixed });
    await b.close?.();
  });

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

  it('a corrupt or mismatched stored request is STORE_FAILED naming the file, never sent', async () => {
    const path = freshPath();
    let now = 0;
    const s = createSqliteIdempotencyStore({ clock: { now: () => now }, path });
    for (const [key, value] of [
      ['garbage', '{not json'],
      ['wrong-shape', JSON.stringify([{ ok: true, jti: 'x' }])],
      // A token whose jti is not the recorded one would be another order under this key.
      ['swapped', JSON.stringify([{ ...signed(), token: signed().token }])],
    ] as const) {
      await s.fix('s', key, ownerOf(await s.begin('s', key, 'h')), [signed()]);
      const raw = new Database(path);
      raw.prepare('UPDATE idempotency_keys SET fixed = ? WHERE key = ?').run(value, key);
      raw.close();
    }
    now += IDEMPOTENCY_LEASE_MS;
    for (const key of ['garbage', 'wrong-shape', 'swapped']) {
      const err = await s.begin('s', key, 'h').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'STORE_FAILED', message: expect.stringContaining(path) });
    }
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
});
