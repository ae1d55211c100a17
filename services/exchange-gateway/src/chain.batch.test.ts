// Receipt batching in the chain writer (issue #20): a stream's receipts in flight share one
// signature, the stored chain is exactly the one per-item signing stores (seq 1..n, each prev
// the chain hash of its predecessor), and a failed complete in the middle is re-chained around.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_PREV, receiptChainHash, sha256B64u } from '@countersign/contracts';
import {
  createSqliteNonceStore,
  type NonceStore,
  type SqliteNonceStore,
} from '@countersign/replay-guard';
import { createLocalSigner, toJwks, type Signer } from '@countersign/signing';
import { createVerifier, staticKeys } from '@countersign/verifier';
import { createChainWriter, type AppendInput } from './chain.ts';

let dir: string;
let store: SqliteNonceStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chain-batch-'));
  store = createSqliteNonceStore({ path: join(dir, 'nonces.sqlite') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const now = 1_700_000_000_000;
const clock = { now: () => now };

function input(i: number, stream: string): AppendInput {
  return {
    key: `req#k${i}`,
    stream,
    draft: {
      req: {
        jti: `jti-${i}`.padEnd(22, 'A'),
        iss: 'req',
        sub: 'acct-1',
        sha256: sha256B64u(`t${i}`),
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

async function countingSigner(): Promise<Signer & { calls: number }> {
  const inner = await createLocalSigner({
    privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    alg: 'ES256',
  });
  const s = {
    calls: 0,
    alg: inner.alg,
    kid: inner.kid,
    publicJwk: inner.publicJwk,
    // In flight for a turn of the event loop, as a KMS call is (a local key signs at once).
    async sign(input: Uint8Array) {
      s.calls++;
      await new Promise((r) => setImmediate(r));
      return inner.sign(input);
    },
  };
  return s;
}

const receiptVerifier = (signer: Signer) =>
  createVerifier({
    keys: staticKeys(toJwks([signer]), { issuer: 'gw' }),
    issuers: ['gw'],
    audience: null,
    typ: 'txn-receipt+jwt',
    clock,
  });

/** The stored receipts of `keys`, checked as one unbroken chain per stream from genesis. */
async function storedChains(s: NonceStore, keys: readonly number[], signer: Signer) {
  const verifier = receiptVerifier(signer);
  const streams = new Map<string, Map<number, string>>();
  for (const i of keys) {
    const rec = await s.get(`req#k${i}`);
    if (rec?.state !== 'COMPLETED') throw new Error(`k${i} not completed`);
    const { claims } = await verifier.verify(rec.stored.receipt);
    const seqs = streams.get(claims.stream) ?? new Map<number, string>();
    streams.set(claims.stream, seqs);
    expect(seqs.has(claims.seq)).toBe(false);
    seqs.set(claims.seq, rec.stored.receipt);
  }
  for (const [stream, seqs] of streams) {
    const n = seqs.size;
    expect([...seqs.keys()].sort((a, b) => a - b)).toEqual(
      Array.from({ length: n }, (_, i) => i + 1),
    );
    for (const [seq, receipt] of seqs) {
      const { claims } = await verifier.verify(receipt);
      const prev = seq === 1 ? GENESIS_PREV : receiptChainHash(seqs.get(seq - 1)!);
      expect(claims.prev).toBe(prev);
    }
    expect(await s.head(stream)).toMatchObject({ seq: n, hash: receiptChainHash(seqs.get(n)!) });
  }
  return streams;
}

const claim = { expiresAt: now + 60_000, leaseMs: 30_000, now };

/** A batching chain writer over `s`, signing with a counting signer. */
async function batchingWriter(s: NonceStore, maxBatchSize?: number) {
  const signer = await countingSigner();
  const chain = createChainWriter({
    gatewayId: 'gw',
    nonceStore: s,
    signer,
    clock,
    owner: 'me',
    receiptBatching: maxBatchSize === undefined ? {} : { maxBatchSize },
  });
  return { signer, chain };
}

describe.each([
  ['ordered (SQLite)', (s: SqliteNonceStore): NonceStore => s],
  ['unordered', (s: SqliteNonceStore): NonceStore => ({ ...s, ordered: false })],
])('createChainWriter with receipt batching, %s store', (_name, storeOf) => {
  it('signs the receipts in flight of each stream under one head; the chain is unbroken', async () => {
    const s = storeOf(store);
    const { signer, chain } = await batchingWriter(s, 8);
    const keys = Array.from({ length: 40 }, (_, i) => i + 1);
    for (const i of keys) await s.claim(`req#k${i}`, { ...claim, owner: 'me' });
    const appended = await Promise.all(keys.map((i) => chain.append(input(i, `gw/${i % 2}`))));
    const streams = await storedChains(s, keys, signer);
    expect([...streams.values()].map((m) => m.size)).toEqual([20, 20]);
    // Every receipt is a batch item; heads of at most 8; far fewer signatures than receipts.
    expect(appended.every((a) => a.stored.receipt.startsWith('{'))).toBe(true);
    const m = chain.batchMetrics!();
    expect(m.largestBatch).toBeLessThanOrEqual(8);
    expect(m.largestBatch).toBeGreaterThan(1);
    expect(signer.calls).toBe(m.signs);
    expect(signer.calls).toBeLessThan(keys.length / 4);
  });

  it('a failed complete in the middle of a batch is re-chained around: no gap, no fork', async () => {
    const s = storeOf(store);
    const { signer, chain } = await batchingWriter(s);
    for (let i = 1; i <= 6; i++) {
      // k3 belongs to another worker: its complete fails after k4..k6 were built on top of it.
      await s.claim(`req#k${i}`, { ...claim, owner: i === 3 ? 'other' : 'me' });
    }
    const results = await Promise.allSettled(
      [1, 2, 3, 4, 5, 6].map((i) => chain.append(input(i, 'gw/0'))),
    );
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'NONCE_CONFLICT' });
    const streams = await storedChains(s, [1, 2, 4, 5, 6], signer);
    expect(streams.get('gw/0')!.size).toBe(5);
  });
});
