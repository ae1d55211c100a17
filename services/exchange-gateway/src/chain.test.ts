import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_PREV, sha256B64u } from '@countersign/contracts';
import { createSqliteNonceStore, type SqliteNonceStore } from '@countersign/replay-guard';
import { createLocalSigner } from '@countersign/signing';
import { createChainWriter, type AppendInput } from './chain.ts';
import { silentLogger } from './ports.ts';

let dir: string;
let store: SqliteNonceStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chain-'));
  store = createSqliteNonceStore({ path: join(dir, 'nonces.sqlite') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const now = 1_700_000_000_000;
const clock = { now: () => now };
const STREAM = 'gw/0';

function input(i: number): AppendInput {
  return {
    key: `req#k${i}`,
    stream: STREAM,
    draft: {
      req: {
        jti: `jti-${i}`.padEnd(22, 'A'),
        iss: 'req',
        sub: 'acct-1',
        sha256: sha256B64u(`token-${i}`),
      },
      messageId: `m${i}`,
      outcome: 'REJECTED',
      reason: 'NO_POLICY',
      fills: [],
    },
    request: null,
    expiresAt: now + 60_000,
  };
}

const claimsOf = (receipt: string) =>
  JSON.parse(Buffer.from(receipt.split('.')[1]!, 'base64url').toString()) as {
    seq: number;
    prev: string;
  };

describe('createChainWriter on an ordered store', () => {
  it('signs ahead on pending heads; a failed complete is re-chained around, no gap, no fork', async () => {
    expect(store.ordered).toBe(true);
    const signer = await createLocalSigner({
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      alg: 'ES256',
    });
    const chain = createChainWriter({
      gatewayId: 'gw',
      nonceStore: store,
      signer,
      clock,
      owner: 'me',
    });
    const claim = { expiresAt: now + 60_000, leaseMs: 30_000, now };
    for (let i = 1; i <= 6; i++) {
      // k3 belongs to another worker: its complete fails (NONCE_CONFLICT) in the middle of the
      // queued completes, after k4..k6 were already signed on top of it.
      await store.claim(`req#k${i}`, { ...claim, owner: i === 3 ? 'other' : 'me' });
    }
    const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((i) => chain.append(input(i))));
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'NONCE_CONFLICT' });

    // What is stored: seq 1..5 exactly once, each prev the hash of the stored seq - 1.
    const stored = new Map<number, string>();
    for (const i of [1, 2, 4, 5, 6]) {
      const rec = await store.get(`req#k${i}`);
      if (rec?.state !== 'COMPLETED') throw new Error(`k${i} not completed`);
      const { seq } = claimsOf(rec.stored.receipt);
      expect(stored.has(seq)).toBe(false);
      stored.set(seq, rec.stored.receipt);
    }
    expect([...stored.keys()].sort()).toEqual([1, 2, 3, 4, 5]);
    for (const [seq, receipt] of stored) {
      const prev = seq === 1 ? GENESIS_PREV : sha256B64u(stored.get(seq - 1)!);
      expect(claimsOf(receipt).prev).toBe(prev);
    }
    expect(await store.head(STREAM)).toMatchObject({ seq: 5, hash: sha256B64u(stored.get(5)!) });
    // The appends resolved with what was stored.
    for (const r of results) {
      if (r.status === 'fulfilled')
        expect(stored.get(r.value.claims.seq)).toBe(r.value.stored.receipt);
    }
  });
});

describe('createChainWriter: two writers on one stream (two connections to one SQLite file)', () => {
  it('a receipt signed on top of one that lost its seq to the other writer is never stored', async () => {
    const signer = await createLocalSigner({
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      alg: 'ES256',
    });
    const other = createSqliteNonceStore({ path: join(dir, 'nonces.sqlite') });
    try {
      const logged: object[] = [];
      const logger = { ...silentLogger, debug: (o: object) => void logged.push(o) };
      const a = createChainWriter({
        gatewayId: 'gw',
        nonceStore: store,
        signer,
        clock,
        owner: 'a',
        logger,
      });
      const b = createChainWriter({
        gatewayId: 'gw',
        nonceStore: other,
        signer,
        clock,
        owner: 'b',
      });
      const claim = { expiresAt: now + 60_000, leaseMs: 30_000, now };
      for (const i of [1, 3, 4]) await store.claim(`req#k${i}`, { ...claim, owner: 'a' });
      await other.claim('req#k2', { ...claim, owner: 'b' });
      await a.append(input(1)); // seq 1; A caches it as its head
      await b.append(input(2)); // B reads the store: seq 2 on A's seq 1
      // A signs seq 2 on its cached head and seq 3 on top of that pending one. Seq 2 is taken;
      // seq 3 follows the stored head by its number, but not by its prev: both are signed again.
      const [r3, r4] = await Promise.all([a.append(input(3)), a.append(input(4))]);
      expect([r3.claims.seq, r4.claims.seq]).toEqual([3, 4]);
      expect(logged.length).toBeGreaterThanOrEqual(2); // the conflicts, at debug

      const receipts = new Map<number, string>();
      for (const i of [1, 2, 3, 4]) {
        const rec = await store.get(`req#k${i}`);
        if (rec?.state !== 'COMPLETED') throw new Error(`k${i} not completed`);
        receipts.set(claimsOf(rec.stored.receipt).seq, rec.stored.receipt);
      }
      expect([...receipts.keys()].sort()).toEqual([1, 2, 3, 4]);
      for (const [seq, receipt] of receipts) {
        const prev = seq === 1 ? GENESIS_PREV : sha256B64u(receipts.get(seq - 1)!);
        expect(claimsOf(receipt).prev).toBe(prev);
      }
    } finally {
      await other.close();
    }
  });
});
