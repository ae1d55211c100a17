import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GENESIS_PREV } from '@countersign/contracts';
import { createSqliteNonceStore } from './sqlite-nonce-store.ts';
import { openSqliteNonceReader } from './sqlite-nonce-reader.ts';

const dir = mkdtempSync(join(tmpdir(), 'cs-nonce-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openSqliteNonceReader', () => {
  it('lists exactly the IN_PROGRESS records with their lease, beside a live store', async () => {
    const path = join(dir, 'nonces.db');
    const store = createSqliteNonceStore({ path });
    const claim = { expiresAt: 9e12, owner: 'w1', now: 1_000 };
    await store.claim('req-1#bbbbbbbbbbbbbbbbbbbbbb', { ...claim, leaseMs: 500 });
    await store.claim('req-1#aaaaaaaaaaaaaaaaaaaaaa', { ...claim, leaseMs: 9_000 });
    await store.claim('req-1#cccccccccccccccccccccc', { ...claim, leaseMs: 500 });
    await store.complete('req-1#cccccccccccccccccccccc', {
      owner: 'w1',
      stored: { receipt: 'r', request: null, messageId: 'm' },
      head: { stream: 'gw/0', seq: 1, hash: 'h'.repeat(43) },
      prev: GENESIS_PREV,
      expiresAt: 9e12,
    });
    const reader = openSqliteNonceReader({ path });
    expect(await reader.listInProgress()).toEqual([
      { key: 'req-1#aaaaaaaaaaaaaaaaaaaaaa', leaseUntil: 10_000 },
      { key: 'req-1#bbbbbbbbbbbbbbbbbbbbbb', leaseUntil: 1_500 },
    ]);
    // The store keeps writing while the reader is open.
    await store.claim('req-1#dddddddddddddddddddddd', { ...claim, leaseMs: 1 });
    expect((await reader.listInProgress()).map((e) => e.key)).toContain(
      'req-1#dddddddddddddddddddddd',
    );
    await reader.close();
    await expect(reader.listInProgress()).rejects.toMatchObject({ code: 'STORE_FAILED' });
    await store.close();
  });

  it('refuses a missing file with STORE_FAILED naming it, and does not create it', () => {
    const path = join(dir, 'absent.db');
    expect(() => openSqliteNonceReader({ path })).toThrow(
      expect.objectContaining({ code: 'STORE_FAILED', message: expect.stringContaining(path) }),
    );
    expect(existsSync(path)).toBe(false);
  });
});
