import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlite } from '@countersign/sqlite';
import { corruptPages } from '@countersign/sqlite/testing';
import { createSqliteNonceStore } from './sqlite-nonce-store.ts';
import type { SqliteNonceStore } from './sqlite-nonce-store.ts';
import { describeNonceStoreContract } from './testing/nonce-store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'cs-nonce-'));
const opened: SqliteNonceStore[] = [];
let n = 0;
afterAll(async () => {
  for (const s of opened) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(path: string): SqliteNonceStore {
  const store = createSqliteNonceStore({ path });
  opened.push(store);
  return store;
}

describeNonceStoreContract('SQLite', () => {
  const path = join(dir, `nonces-${++n}.db`);
  const store = open(path);
  return Promise.resolve({
    store,
    async reopen() {
      await store.close();
      return open(path);
    },
  });
});

describe('createSqliteNonceStore', () => {
  it('two connections to one file: exactly one claim wins', async () => {
    const path = join(dir, 'shared.db');
    const a = open(path);
    const b = open(path);
    const opts = { expiresAt: 2e12, leaseMs: 1000, now: 1e12 };
    const [ra, rb] = await Promise.all([
      a.claim('iss#k', { ...opts, owner: 'a' }),
      b.claim('iss#k', { ...opts, owner: 'b' }),
    ]);
    expect([ra.claimed, rb.claimed].sort()).toEqual([false, true]);
  });

  it('purgeExpired drops only records past expiresAt', async () => {
    const store = open(join(dir, 'purge.db'));
    await store.claim('iss#old', { expiresAt: 1000, leaseMs: 10, owner: 'a', now: 0 });
    await store.claim('iss#new', { expiresAt: 5000, leaseMs: 10, owner: 'a', now: 0 });
    expect(store.purgeExpired(2000)).toBe(1);
    expect(await store.get('iss#old')).toBeUndefined();
    expect(await store.get('iss#new')).toBeDefined();
  });

  it('opens a file from before request hashes and claim times: adds the columns, old records read without them', async () => {
    const path = join(dir, 'old.db');
    const old = openSqlite(path);
    old.exec(`CREATE TABLE nonces (key TEXT PRIMARY KEY, state TEXT NOT NULL, owner TEXT,
      lease_until INTEGER, expires_at INTEGER NOT NULL, attempts INTEGER NOT NULL, receipt TEXT,
      request TEXT, message_id TEXT)`);
    old
      .prepare(
        `INSERT INTO nonces VALUES ('iss#old', 'IN_PROGRESS', 'a', 10, 5000, 1, NULL, NULL, NULL)`,
      )
      .run();
    old.close();
    const store = open(path);
    expect(await store.get('iss#old')).toEqual({
      key: 'iss#old',
      state: 'IN_PROGRESS',
      owner: 'a',
      leaseUntil: 10,
      expiresAt: 5000,
      attempts: 1,
    });
    // The takeover of an old record records the hash it is made for.
    await store.claim('iss#old', {
      expiresAt: 5000,
      leaseMs: 10,
      owner: 'b',
      now: 20,
      requestSha256: 'h1',
    });
    expect(await store.get('iss#old')).toMatchObject({ owner: 'b', requestSha256: 'h1' });
    // Its first claim's time is unknown, and a takeover does not invent one; new claims record it.
    expect(await store.get('iss#old')).not.toHaveProperty('claimedAt');
    await store.claim('iss#new', { expiresAt: 5000, leaseMs: 10, owner: 'b', now: 30 });
    expect(await store.get('iss#new')).toMatchObject({ claimedAt: 30 });
    // A second open of the migrated file finds the column there and reads the same record.
    expect(await open(path).get('iss#old')).toMatchObject({ requestSha256: 'h1' });
  });

  it('expireLeasesExcept ends the live leases of other owners only', async () => {
    const store = open(join(dir, 'leases.db'));
    const o = { expiresAt: 1e12, leaseMs: 30_000, now: 1000 };
    await store.claim('iss#dead', { ...o, owner: 'dead' });
    await store.claim('iss#mine', { ...o, owner: 'me' });
    await store.claim('iss#over', { ...o, owner: 'dead', now: 0, leaseMs: 10 }); // already over
    expect(await store.expireLeasesExcept('me', 2000)).toBe(1);
    expect(await store.get('iss#dead')).toMatchObject({ leaseUntil: 2000 });
    expect(await store.get('iss#mine')).toMatchObject({ leaseUntil: 31_000 });
    expect(await store.get('iss#over')).toMatchObject({ leaseUntil: 10 });
    // Its next claim takes over at once.
    expect(await store.claim('iss#dead', { ...o, owner: 'me', now: 2000 })).toMatchObject({
      claimed: true,
      takeover: true,
    });
  });

  it('rejects a head seq below 1', async () => {
    const store = open(join(dir, 'seq.db'));
    await expect(
      store.complete('msg#1', {
        owner: 'a',
        stored: { receipt: 'r', request: null, messageId: 'm' },
        head: { stream: 'gw/0', seq: 0, hash: 'h' },
        prev: 'h',
        expiresAt: 1,
      }),
    ).rejects.toMatchObject({ code: 'STORE_FAILED' });
  });

  it('a closed store fails with STORE_FAILED', async () => {
    const store = open(join(dir, 'closed.db'));
    await store.close();
    await expect(store.get('x')).rejects.toMatchObject({ code: 'STORE_FAILED' });
  });

  it("a damaged file: STORE_FAILED naming the file and SQLite's reason", async () => {
    const path = join(dir, 'damaged.db');
    const store = createSqliteNonceStore({ path });
    const claim = { expiresAt: 9e12, leaseMs: 1000, owner: 'a', now: 0 };
    for (let i = 0; i < 200; i++) await store.claim(`iss#${'k'.repeat(60)}${i}`, claim);
    await store.close();
    corruptPages(path);
    const damaged = open(path);
    await expect(damaged.get(`iss#${'k'.repeat(60)}7`)).rejects.toMatchObject({
      code: 'STORE_FAILED',
      message: `get on the embedded nonce store failed on ${path}: database disk image is malformed (SQLITE_CORRUPT)`,
      details: { path, code: 'SQLITE_CORRUPT', retryable: false },
    });
    await expect(damaged.claim('iss#new', claim)).rejects.toMatchObject({
      code: 'STORE_FAILED',
      message: expect.stringContaining(`claim on the embedded nonce store failed on ${path}`),
    });
  });
});
