import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newJti } from '@countersign/contracts';
import { createSqliteIdempotencyStore } from './sqlite-idempotency-store.ts';
import { createSqliteTransactionStore } from './sqlite-transaction-store.ts';
import { describeTransactionStoreContract } from './testing/transaction-store-contract.ts';
import { createMemoryTransactionStore, receiptReplaces } from './transaction-store.ts';

const clock = { now: () => Date.now() };

describeTransactionStoreContract('memory', () => ({
  open: () => createMemoryTransactionStore(),
  shared: false,
}));

const dir = mkdtempSync(join(tmpdir(), 'txn-store-'));
describeTransactionStoreContract('SQLite', () => ({
  open: () => createSqliteTransactionStore({ path: join(dir, 'requester.sqlite'), clock }),
  shared: true,
}));

describe('receiptReplaces', () => {
  it('only a final receipt replaces an UNKNOWN one; nothing replaces a final one', () => {
    expect(receiptReplaces(null, 'UNKNOWN')).toBe(true);
    expect(receiptReplaces(null, 'EXECUTED')).toBe(true);
    expect(receiptReplaces('UNKNOWN', 'EXECUTED')).toBe(true);
    expect(receiptReplaces('UNKNOWN', 'REJECTED')).toBe(true);
    expect(receiptReplaces('UNKNOWN', 'UNKNOWN')).toBe(false);
    for (const final of ['EXECUTED', 'REJECTED', 'FAILED'] as const) {
      for (const incoming of ['EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN'] as const) {
        expect(receiptReplaces(final, incoming)).toBe(false);
      }
    }
  });
});

describe('the SQLite stores of requester.sqlite share one connection', () => {
  it('closing the idempotency store leaves the order table working, and the reverse', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'txn-shared-')), 'requester.sqlite');
    const idempotency = createSqliteIdempotencyStore({ path, clock });
    const orders = createSqliteTransactionStore({ path, clock });
    await idempotency.close?.();
    const jti = newJti();
    await orders.remember([{ iss: 'bot', jti, account: 'acct-1' }]);
    expect((await orders.get({ iss: 'bot', jti }))?.account).toBe('acct-1');
    const closed = { code: 'STORE_FAILED', message: expect.stringMatching(/is closed$/) };
    await expect(idempotency.begin('s', 'k', 'h')).rejects.toMatchObject(closed);
    await orders.close?.();
    await expect(
      orders.remember([{ iss: 'bot', jti: newJti(), account: 'a' }]),
    ).rejects.toMatchObject(closed);
    await expect(orders.get({ iss: 'bot', jti })).rejects.toMatchObject(closed);
    // A store opened afterwards opens the file again and finds what was committed.
    const again = createSqliteTransactionStore({ path, clock });
    expect((await again.get({ iss: 'bot', jti }))?.account).toBe('acct-1');
    await again.close?.();
  });
});

describe('SQLite transaction store retention', () => {
  it('drops orders older than the TTL (by the time in their jti), keeps newer ones', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'txn-ttl-')), 'requester.sqlite');
    const now = Date.now();
    const store = createSqliteTransactionStore({ path, clock: { now: () => now }, ttlMs: 60_000 });
    const old = { iss: 'bot', jti: newJti(now - 120_000), account: 'acct-1' };
    const recent = { iss: 'bot', jti: newJti(now - 30_000), account: 'acct-1' };
    await store.remember([old, recent]);
    // The purge runs every 10,000 remembered orders.
    const many = Array.from({ length: 10_000 }, () => ({
      iss: 'bot',
      jti: newJti(now),
      account: 'a',
    }));
    await store.remember(many);
    expect(await store.get(old)).toBeUndefined();
    expect((await store.get(recent))?.account).toBe('acct-1');
    expect((await store.get(many[0]!))?.account).toBe('a');
    await store.close?.();
  });
});
