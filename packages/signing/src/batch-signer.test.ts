import { createPublicKey, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  canonicalJson,
  leafHash,
  receiptBatchHeadClaims,
  requestBatchHeadClaims,
  verifyInclusion,
} from '@countersign/contracts';
import { createBatchSigner } from './batch-signer.ts';
import { createLocalSigner } from './local-signer.ts';
import type { Signer } from './signer.ts';

/** A real ES256 key behind a signer that counts calls and answers after `latencyMs` (fake timers). */
interface FakeSigner extends Signer {
  readonly inputs: string[];
}
let real: Signer;
let publicPem: string;
beforeAll(async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  real = await createLocalSigner({ privateKey, alg: 'ES256' });
  publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
});
function fakeSigner(latencyMs = 15, fail?: (n: number) => boolean): FakeSigner {
  const inputs: string[] = [];
  return {
    alg: real.alg,
    kid: real.kid,
    publicJwk: real.publicJwk,
    inputs,
    async sign(input) {
      inputs.push(Buffer.from(input).toString());
      await new Promise((r) => setTimeout(r, latencyMs));
      if (fail?.(inputs.length)) throw new Error('KMS said no');
      return real.sign(input);
    },
  };
}

const claimsOf = (i: number) => ({ iss: 'req-1', jti: `j${i}`, n: i });
const headClaims = (_items: readonly object[], tree: { root: string; size: number }) =>
  requestBatchHeadClaims({ iss: 'req-1', iat: 100, ...tree });

function payloadOf(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
}
function headerOf(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
}
function signatureVerifies(jws: string): boolean {
  const [h, p, s] = jws.split('.');
  return cryptoVerify(
    'sha256',
    Buffer.from(`${h}.${p}`),
    { key: createPublicKey(publicPem), dsaEncoding: 'ieee-p1363' },
    Buffer.from(s!, 'base64url'),
  );
}
/** Checks that `item` proves `claims` under a validly signed head; returns the head's claims. */
function checkItem(item: string, claims: object): Record<string, unknown> {
  const { batch, index, path, ...rest } = JSON.parse(item) as {
    batch: string;
    index: number;
    path: string[];
  };
  expect(rest).toEqual(claims);
  expect(signatureVerifies(batch)).toBe(true);
  const head = payloadOf(batch);
  const ok = verifyInclusion(
    leafHash(Buffer.from(canonicalJson(rest))),
    index,
    head.size as number,
    path.map((p) => Buffer.from(p, 'base64url')),
    Buffer.from(head.root as string, 'base64url'),
  );
  expect(ok).toEqual({ ok: true });
  return head;
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('createBatchSigner', () => {
  it('signs an idle item alone, as a plain token, with one call and no timer in between', async () => {
    const signer = fakeSigner();
    const batching = createBatchSigner({ signer, typ: 'txn+jwt', headClaims });
    const token = batching.sign(claimsOf(1));
    await Promise.resolve(); // microtasks only: no fake time has passed
    expect(signer.inputs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(15);
    const jws = await token;
    expect(headerOf(jws)).toEqual({ alg: 'ES256', kid: real.kid, typ: 'txn+jwt' });
    expect(payloadOf(jws)).toEqual(claimsOf(1));
    expect(signatureVerifies(jws)).toBe(true);
    expect(batching.metrics()).toEqual({ items: 1, signs: 1, batches: 0, largestBatch: 1 });
  });

  it('signs N items submitted together with one call: one head, N proofs', async () => {
    const signer = fakeSigner();
    const batching = createBatchSigner({ signer, typ: 'txn+jwt', headClaims });
    const all = Promise.all(Array.from({ length: 100 }, (_, i) => batching.sign(claimsOf(i))));
    await vi.advanceTimersByTimeAsync(15);
    const items = await all;
    expect(signer.inputs).toHaveLength(1);
    items.forEach((item, i) => {
      const head = checkItem(item, claimsOf(i));
      expect(head).toMatchObject({ iss: 'req-1', size: 100 });
    });
    expect(headerOf(JSON.parse(items[0]!).batch as string).typ).toBe('txn-batch+jwt');
  });

  it('gathers items that arrive while a signature is in flight into the next call', async () => {
    const signer = fakeSigner();
    const batching = createBatchSigner({ signer, typ: 'txn+jwt', headClaims });
    const first = batching.sign(claimsOf(0));
    await Promise.resolve();
    const later: Promise<string>[] = [];
    for (let i = 1; i <= 50; i++) {
      later.push(batching.sign(claimsOf(i)));
      await vi.advanceTimersByTimeAsync(0.2); // they trickle in during the first 10 ms
    }
    expect(signer.inputs).toHaveLength(1); // nothing else started while the first was in flight
    await vi.advanceTimersByTimeAsync(30);
    expect(payloadOf(await first)).toEqual(claimsOf(0));
    const items = await Promise.all(later);
    expect(signer.inputs).toHaveLength(2);
    items.forEach((item, i) => expect(checkItem(item, claimsOf(i + 1)).size).toBe(50));
    expect(batching.metrics()).toEqual({ items: 51, signs: 2, batches: 1, largestBatch: 50 });
  });

  it('never puts more than maxBatchSize items under one head', async () => {
    const signer = fakeSigner();
    const batching = createBatchSigner({ signer, typ: 'txn+jwt', headClaims, maxBatchSize: 256 });
    const all = Promise.all(Array.from({ length: 600 }, (_, i) => batching.sign(claimsOf(i))));
    await vi.advanceTimersByTimeAsync(100);
    const items = await all;
    expect(signer.inputs.map((i) => payloadOf(`${i}.x`).size)).toEqual([256, 256, 88]);
    expect(checkItem(items[599]!, claimsOf(599)).size).toBe(88);
  });

  it('fails every item of a batch whose signature failed, and signs the next batch', async () => {
    const signer = fakeSigner(15, (n) => n === 1);
    const batching = createBatchSigner({ signer, typ: 'txn+jwt', headClaims });
    const failed = [batching.sign(claimsOf(1)), batching.sign(claimsOf(2))].map((p) =>
      p.then(
        () => 'signed',
        (e: Error) => e.message,
      ),
    );
    await vi.advanceTimersByTimeAsync(15);
    expect(await Promise.all(failed)).toEqual(['KMS said no', 'KMS said no']);
    const next = batching.sign(claimsOf(3));
    await vi.advanceTimersByTimeAsync(15);
    expect(payloadOf(await next)).toEqual(claimsOf(3));
  });

  it('keeps groups apart: receipts of two streams get two heads, each a checkpoint', async () => {
    const signer = fakeSigner();
    const receipt = (stream: string, seq: number) => ({
      iss: 'gw-1',
      stream,
      seq,
      jti: `${stream}${seq}`,
    });
    const batching = createBatchSigner({
      signer,
      typ: 'txn-receipt+jwt',
      groupOf: (r: ReturnType<typeof receipt>) => r.stream,
      headClaims: (rs, tree) => receiptBatchHeadClaims(rs, { iat: 100, root: tree.root }),
    });
    const rs = [
      receipt('gw-1/0', 1),
      receipt('gw-1/1', 1),
      receipt('gw-1/0', 2),
      receipt('gw-1/1', 2),
    ];
    const all = Promise.all(rs.map((r) => batching.sign(r)));
    await vi.advanceTimersByTimeAsync(15);
    const items = await all;
    expect(signer.inputs).toHaveLength(2);
    items.forEach((item, i) => {
      const head = checkItem(item, rs[i]!);
      expect(head).toMatchObject({ stream: rs[i]!.stream, firstSeq: 1, seq: 2, size: 2 });
      expect(headerOf(JSON.parse(item).batch as string).typ).toBe('txn-receipt-batch+jwt');
    });
  });

  it('fails the items of a batch whose head cannot be built (a gap in the seqs)', async () => {
    const signer = fakeSigner();
    const batching = createBatchSigner({
      signer,
      typ: 'txn-receipt+jwt',
      headClaims: (rs: readonly { iss: string; stream: string; seq: number }[], tree) =>
        receiptBatchHeadClaims(rs, { iat: 100, root: tree.root }),
    });
    const results = [1, 3].map((seq) =>
      batching.sign({ iss: 'gw-1', stream: 'gw-1/0', seq }).then(
        () => 'signed',
        (e: Error) => e.name,
      ),
    );
    await vi.advanceTimersByTimeAsync(15);
    expect(await Promise.all(results)).toEqual(['RangeError', 'RangeError']);
    expect(signer.inputs).toHaveLength(0);
  });

  it('refuses a maxBatchSize out of range', () => {
    for (const maxBatchSize of [0, 1.5, 65_537]) {
      expect(() =>
        createBatchSigner({ signer: real, typ: 'txn+jwt', headClaims, maxBatchSize }),
      ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    }
  });
});
