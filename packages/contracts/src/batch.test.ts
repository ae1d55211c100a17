import { readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import {
  batchItemDigest,
  batchLeafBytes,
  merkleBatch,
  receiptBatchHeadClaims,
  ReceiptBatchHeadClaims,
  requestBatchHeadClaims,
  RequestBatchHeadClaims,
} from './batch.ts';
import { canonicalJson } from './canonical.ts';
import { leafHash, merkleTree, verifyInclusion } from './merkle.ts';

const REFERENCE = new URL('../reference/verify-batch-item.mjs', import.meta.url);
const README = new URL('../README.md', import.meta.url);
// The README's reference verifier, run as written (a test below checks the README shows it).
const { verifyBatchItem } = (await import(REFERENCE.href)) as {
  verifyBatchItem: (item: string, jwks: object, headTyp: string) => Promise<unknown>;
};

const claimsOf = (i: number) => ({
  iss: 'req-1',
  sub: 'acct-1',
  aud: 'gw-1',
  iat: 1_767_225_600,
  nbf: 1_767_225_600,
  exp: 1_767_225_660,
  jti: `AAAAAAAAAAAAAAAAAAA${String(i).padStart(3, '0')}`,
  txn: {
    type: 'order',
    side: 'buy',
    symbol: 'BTC-USD',
    quantity: '0.015',
    limitPrice: '1.5',
    timeInForce: 'GTC',
  },
});

describe('merkleBatch', () => {
  it('hashes each item’s canonical claims as an RFC 9162 leaf and proves every index', () => {
    for (const n of [1, 2, 3, 5, 8, 13]) {
      const claims = Array.from({ length: n }, (_, i) => claimsOf(i));
      const batch = merkleBatch(claims);
      const leaves = claims.map((c) => leafHash(Buffer.from(canonicalJson(c))));
      expect(batch.root).toBe(merkleTree(leaves).root.toString('base64url'));
      const items = batch.items('h.e.ad');
      items.forEach((text, i) => {
        const item = JSON.parse(text) as { batch: string; index: number; path: string[] };
        expect(canonicalJson(item)).toBe(text); // items travel canonical
        expect(item.batch).toBe('h.e.ad');
        expect(item.index).toBe(i);
        const path = item.path.map((p) => Buffer.from(p, 'base64url'));
        const root = Buffer.from(batch.root, 'base64url');
        expect(verifyInclusion(leaves[i]!, i, n, path, root)).toEqual({ ok: true });
      });
    }
  });

  it('leaf bytes do not depend on member order', () => {
    expect(batchLeafBytes({ b: 1, a: { d: 2, c: 'x' } }).toString()).toBe(
      '{"a":{"c":"x","d":2},"b":1}',
    );
  });

  it('refuses claims that use an envelope member name, and empty batches', () => {
    for (const m of ['batch', 'index', 'path']) {
      expect(() => merkleBatch([{ ...claimsOf(0), [m]: 1 }])).toThrow(RangeError);
    }
    expect(() => merkleBatch([])).toThrow(RangeError);
  });
});

describe('batch head claims', () => {
  it('request heads carry issuer, time, root and size', () => {
    const h = requestBatchHeadClaims({ iss: 'req-1', iat: 5, root: 'A'.repeat(43), size: 3 });
    expect(RequestBatchHeadClaims.parse(h)).toEqual({
      v: 1,
      iss: 'req-1',
      iat: 5,
      root: 'A'.repeat(43),
      size: 3,
    });
    expect(RequestBatchHeadClaims.safeParse({ ...h, size: 0 }).success).toBe(false);
    expect(RequestBatchHeadClaims.safeParse({ ...h, stream: 'gw/0' }).success).toBe(false);
  });

  it('receipt heads are one stream at consecutive seqs, with the chain head after the last', () => {
    const r = (seq: number, stream = 'gw-1/0') => ({ iss: 'gw-1', stream, seq, jti: `r${seq}` });
    const h = receiptBatchHeadClaims([r(7), r(8), r(9)], { iat: 5, root: 'A'.repeat(43) });
    expect(h).toMatchObject({
      stream: 'gw-1/0',
      firstSeq: 7,
      seq: 9,
      size: 3,
      head: batchItemDigest(r(9)),
    });
    expect(ReceiptBatchHeadClaims.safeParse(h).success).toBe(true);
    expect(ReceiptBatchHeadClaims.safeParse({ ...h, size: 4 }).success).toBe(false);
    expect(() => receiptBatchHeadClaims([r(7), r(9)], { iat: 5, root: h.root })).toThrow(
      RangeError,
    );
    expect(() => receiptBatchHeadClaims([r(7), r(8, 'gw-1/1')], { iat: 5, root: h.root })).toThrow(
      RangeError,
    );
    expect(() => receiptBatchHeadClaims([], { iat: 5, root: h.root })).toThrow(RangeError);
  });
});

describe('the README reference verifier (jose + SHA-256)', () => {
  it('is shown in the README exactly as it runs here', () => {
    const readme = readFileSync(README, 'utf8');
    expect(readme).toContain(readFileSync(REFERENCE, 'utf8').trim());
  });

  it('accepts every item of a signed batch and refuses a changed one', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig' };
    const kid = await calculateJwkThumbprint(jwk);
    const jwks = { keys: [{ ...jwk, kid }] };
    const claims = Array.from({ length: 5 }, (_, i) => claimsOf(i));
    const batch = merkleBatch(claims);
    const head = await new SignJWT(
      requestBatchHeadClaims({
        iss: 'req-1',
        iat: 1_767_225_600,
        root: batch.root,
        size: batch.size,
      }),
    )
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'txn-batch+jwt' })
      .sign(privateKey);
    const items = batch.items(head);
    for (const [i, item] of items.entries()) {
      expect(await verifyBatchItem(item, jwks, 'txn-batch+jwt')).toEqual(claims[i]);
    }
    const forged = canonicalJson({ ...JSON.parse(items[2]!), sub: 'acct-2' });
    await expect(verifyBatchItem(forged, jwks, 'txn-batch+jwt')).rejects.toThrow(
      'not in the batch',
    );
    await expect(verifyBatchItem(items[2]!, jwks, 'txn-receipt-batch+jwt')).rejects.toThrow();
    await expect(verifyBatchItem(` ${items[2]!}`, jwks, 'txn-batch+jwt')).rejects.toThrow(
      'canonical',
    );
  });
});
