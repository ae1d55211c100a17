// Batch items (issue #20): accepted in either form, the head verified once per batch, and every
// attack on the format rejected with its stable code, on real tokens.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batchItemDigest,
  canonicalJson,
  GENESIS_PREV,
  leafHash,
  merkleBatch,
  nodeHash,
  receiptBatchHeadClaims,
  requestBatchHeadClaims,
  sha256B64u,
  type Clock,
} from '@countersign/contracts';
import { createBatchSigner, signJwt, toJwks, type Signer } from '@countersign/signing';
import { combineKeys, staticKeys } from './key-resolvers.ts';
import type { KeyResolver } from './key-resolvers.ts';
import { createVerifier } from './verifier.ts';
import { codeOf, fixture, NOW, NOW_MS, requestClaims, type Fixture } from './testing/fixtures.ts';

let req1: Fixture, req2: Fixture, gw: Fixture, outsider: Fixture;
beforeAll(async () => {
  [req1, req2, gw, outsider] = await Promise.all([
    fixture('ES256'),
    fixture('RS256'),
    fixture('ES256'),
    fixture('ES256'),
  ]);
});

const jti = (i: number) => `AAAAAAAAAAAAAAAAAAA${String(i).padStart(3, '0')}`;
const requests = (n: number, overrides: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => requestClaims({ jti: jti(i), ...overrides }));

/** Signs `claims` as one batch with the real batch signer (they are submitted together). */
async function requestBatch(signer: Signer, claims: readonly object[], iss = 'req-1') {
  const batching = createBatchSigner({
    signer,
    typ: 'txn+jwt',
    headClaims: (_items, tree) => requestBatchHeadClaims({ iss, iat: NOW, ...tree }),
  });
  return Promise.all(claims.map((c) => batching.sign(c)));
}

/** A key resolver that counts lookups: one per verified head, none per cached item. */
function counting(inner: KeyResolver): KeyResolver & { lookups: number } {
  const r = {
    lookups: 0,
    resolve(kid: string) {
      r.lookups++;
      return inner.resolve(kid);
    },
  };
  return r;
}

function requestVerifier(
  options: { clock?: Clock; batchHeadCacheSize?: number; keys?: KeyResolver } = {},
) {
  const keys =
    options.keys ??
    combineKeys(
      staticKeys(toJwks([req1.signer]), { issuer: 'req-1' }),
      staticKeys(toJwks([req2.signer]), { issuer: 'req-2' }),
    );
  return createVerifier({
    keys,
    issuers: ['req-1', 'req-2'],
    audience: 'gw-1',
    typ: 'txn+jwt',
    clock: options.clock ?? { now: () => NOW_MS },
    ...(options.batchHeadCacheSize ? { batchHeadCacheSize: options.batchHeadCacheSize } : {}),
  });
}

const receiptVerifier = () =>
  createVerifier({
    keys: staticKeys(toJwks([gw.signer]), { issuer: 'gw-1' }),
    issuers: ['gw-1'],
    audience: null,
    typ: 'txn-receipt+jwt',
    clock: { now: () => NOW_MS },
  });

type Item = Record<string, unknown> & { batch: string; index: number; path: string[] };
const parse = (item: string) => JSON.parse(item) as Item;
/** Edits an item and re-encodes it canonically (so only the edit is under test). */
const edit = (item: string, change: (i: Item) => void) => {
  const i = parse(item);
  change(i);
  return canonicalJson(i);
};

describe('batch items: accepted', () => {
  it('verifies every item of batches of 2..9 and reports its head', async () => {
    const v = requestVerifier();
    for (const n of [2, 3, 5, 9]) {
      const claims = requests(n);
      const items = await requestBatch(req1.signer, claims);
      for (const [i, item] of items.entries()) {
        const out = await v.verify(item);
        expect(out.claims).toEqual(claims[i]);
        expect(out.header).toEqual({ alg: 'ES256', kid: req1.signer.kid, typ: 'txn+jwt' });
        expect(out.batch).toMatchObject({ typ: 'txn-batch+jwt', index: i, head: { size: n } });
      }
    }
  });

  it('still verifies the plain per-item form (an item signed alone)', async () => {
    const [token] = await requestBatch(req1.signer, requests(1));
    expect(token!.split('.')).toHaveLength(3);
    expect((await requestVerifier().verify(token!)).batch).toBeUndefined();
  });

  it('checks one head signature per batch, then only hashes (until the cache bound)', async () => {
    const keys = counting(staticKeys(toJwks([req1.signer]), { issuer: 'req-1' }));
    let now = NOW_MS;
    const v = requestVerifier({ keys, clock: { now: () => now }, batchHeadCacheSize: 2 });
    const [a, b, c] = await Promise.all(
      [1, 2, 3].map(() => requestBatch(req1.signer, requests(4))),
    );
    await Promise.all(a!.map((item) => v.verify(item))); // all at once: still one head check
    expect(keys.lookups).toBe(1);
    // Bounded by count: heads b and c push a out; a is verified again.
    await v.verify(b![0]!);
    await v.verify(c![0]!);
    await v.verify(a![1]!);
    expect(keys.lookups).toBe(4);
    // Bounded by time: after the longest token lifetime plus skew, a head is verified again.
    now += (300 + 30) * 1000 - 1;
    await v.verify(a![2]!, { at: NOW_MS });
    expect(keys.lookups).toBe(4);
    now += 1;
    await v.verify(a![3]!, { at: NOW_MS });
    expect(keys.lookups).toBe(5);
  });

  it('checks each item’s own claims as for a single token', async () => {
    const v = requestVerifier();
    const items = await requestBatch(req1.signer, [
      requestClaims({ jti: jti(0) }),
      requestClaims({ jti: jti(1), exp: NOW - 60, iat: NOW - 120, nbf: NOW - 120 }),
      requestClaims({ jti: jti(2), aud: 'gw-2' }),
      requestClaims({ jti: jti(3), nbf: NOW + 120 }),
      { ...requestClaims({ jti: jti(4) }), extra: 1 },
      requestClaims({ jti: jti(5), exp: NOW + 3600 }),
    ]);
    expect(await Promise.all(items.map((i) => codeOf(v.verify(i)).catch(() => 'OK')))).toEqual([
      'OK',
      'EXPIRED',
      'AUDIENCE_MISMATCH',
      'NOT_YET_VALID',
      'CLAIMS_INVALID',
      'LIFETIME_TOO_LONG',
    ]);
  });
});

describe('batch items: attacks', () => {
  it('an item that re-encodes differently is BATCH_LEAF_NONCANONICAL', async () => {
    const v = requestVerifier();
    const [item] = await requestBatch(req1.signer, requests(3));
    const variants = [
      item!.replace('{"aud"', '{ "aud"'), // whitespace
      item!.replace(`"iat":${NOW}`, `"iat":${NOW}.0`), // a number written otherwise
      item!.replace(`"iat":${NOW}`, `"iat":${NOW}0e-1`),
      item!.replace('"sub":"acct-1"', '"sub":"\\u0061cct-1"'), // an escape
      JSON.stringify(parse(item!), null, 0)
        .replace(/^\{"aud":"gw-1",/, '{')
        .replace(/\}$/, ',"aud":"gw-1"}'), // order
    ];
    for (const text of variants) {
      expect(text).not.toBe(item);
      expect(await codeOf(v.verify(text))).toBe('BATCH_LEAF_NONCANONICAL');
    }
    // A big integer some parsers round: its canonical re-encoding differs from the text.
    expect(await codeOf(v.verify(item!.replace(`"iat":${NOW}`, '"iat":9007199254740993')))).toBe(
      'BATCH_LEAF_NONCANONICAL',
    );
  });

  it('duplicate or __proto__ members, and items without an envelope, are MALFORMED', async () => {
    const v = requestVerifier();
    const [item] = await requestBatch(req1.signer, requests(2));
    expect(
      await codeOf(v.verify(item!.replace('{"aud":"gw-1",', '{"aud":"gw-1","aud":"gw-1",'))),
    ).toBe('MALFORMED');
    expect(await codeOf(v.verify(item!.replace('{"aud"', '{"__proto__":{},"aud"')))).toBe(
      'MALFORMED',
    );
    expect(await codeOf(v.verify(edit(item!, (i) => delete (i as Partial<Item>).path)))).toBe(
      'MALFORMED',
    );
    expect(await codeOf(v.verify('{"a":1'))).toBe('MALFORMED');
    expect(await codeOf(v.verify('[]'))).toBe('MALFORMED');
  });

  it('an index outside the tree is BATCH_INDEX_OUT_OF_RANGE', async () => {
    const v = requestVerifier();
    const items = await requestBatch(req1.signer, requests(3));
    for (const index of [3, 4, -1, 1.5, 2 ** 53]) {
      expect(await codeOf(v.verify(edit(items[2]!, (i) => (i.index = index))))).toBe(
        'BATCH_INDEX_OUT_OF_RANGE',
      );
    }
  });

  it('a proof of the wrong length for (index, size) is BATCH_PROOF_LENGTH', async () => {
    const v = requestVerifier();
    const items = await requestBatch(req1.signer, requests(3)); // paths: 2, 2, 1 hashes
    const longer = edit(items[0]!, (i) => i.path.push(i.path[0]!));
    const shorter = edit(items[0]!, (i) => i.path.pop());
    const otherIndex = edit(items[0]!, (i) => (i.index = 2)); // index 2 needs one hash
    const shortHash = edit(items[0]!, (i) => (i.path[0] = i.path[0]!.slice(0, 42)));
    const padded = edit(items[0]!, (i) => (i.path[0] = `${i.path[0]!}A`));
    for (const text of [longer, shorter, otherIndex, shortHash, padded]) {
      expect(await codeOf(v.verify(text))).toBe('BATCH_PROOF_LENGTH');
    }
  });

  it('a changed claim or a swapped path is BATCH_ROOT_MISMATCH', async () => {
    const v = requestVerifier();
    const items = await requestBatch(req1.signer, requests(4));
    const changed = edit(items[1]!, (i) => ((i.txn as { quantity: string }).quantity = '150'));
    const swapped = edit(items[1]!, (i) => i.path.reverse());
    const moved = edit(items[1]!, (i) => (i.index = 0)); // same path length, other position
    for (const text of [changed, swapped, moved]) {
      expect(await codeOf(v.verify(text))).toBe('BATCH_ROOT_MISMATCH');
    }
  });

  it('node/leaf confusion: an interior node offered as a leaf never verifies', async () => {
    const v = requestVerifier();
    const claims = requests(4);
    const items = await requestBatch(req1.signer, claims);
    const leaves = claims.map((c) => leafHash(Buffer.from(canonicalJson(c))));
    const n01 = nodeHash(leaves[0]!, leaves[1]!);
    const n23 = nodeHash(leaves[2]!, leaves[3]!);
    // The left subtree's node as "item 0" with the proof from level 1: one hash short.
    expect(
      await codeOf(v.verify(edit(items[0]!, (i) => (i.path = [n23.toString('base64url')])))),
    ).toBe('BATCH_PROOF_LENGTH');
    // A head over a tree built without the leaf/node prefixes (plain SHA-256 of the claims and
    // of left‖right): signed by the real key, its items still do not verify, because the
    // verifier always hashes a leaf as 0x00‖claims.
    const plain = claims.map((c) => Buffer.from(sha256B64u(canonicalJson(c)), 'base64url'));
    const pair = (a: Buffer, b: Buffer) =>
      Buffer.from(sha256B64u(Buffer.concat([a, b])), 'base64url');
    const root = pair(pair(plain[0]!, plain[1]!), pair(plain[2]!, plain[3]!)).toString('base64url');
    const head = await signJwt(
      req1.signer,
      requestBatchHeadClaims({ iss: 'req-1', iat: NOW, root, size: 4 }),
      {
        typ: 'txn-batch+jwt',
      },
    );
    const unprefixed = canonicalJson({
      ...claims[0],
      batch: head,
      index: 0,
      path: [plain[1]!, pair(plain[2]!, plain[3]!)].map((b) => b.toString('base64url')),
    });
    expect(await codeOf(v.verify(unprefixed))).toBe('BATCH_ROOT_MISMATCH');
    // And the real node n01 as a leaf entry of a one-level-shorter tree is not a leaf hash.
    expect(leafHash(Buffer.concat([leaves[0]!, leaves[1]!])).equals(n01)).toBe(false);
  });

  it('a head of another issuer is BATCH_HEAD_MISMATCH; a head in its name from another key ISSUER_NOT_TRUSTED', async () => {
    const v = requestVerifier();
    // req-2 signs (with its own trusted key) a head over items that say iss req-1.
    const [item] = await requestBatch(req2.signer, requests(2), 'req-2');
    expect(await codeOf(v.verify(item!))).toBe('BATCH_HEAD_MISMATCH');
    // req-2's key signs a head that claims to be req-1's.
    const [forged] = await requestBatch(req2.signer, requests(2), 'req-1');
    expect(await codeOf(v.verify(forged!))).toBe('ISSUER_NOT_TRUSTED');
  });

  it('a head signed by an unknown key is UNKNOWN_KID; a tampered head BAD_SIGNATURE', async () => {
    const v = requestVerifier();
    const [unknown] = await requestBatch(outsider.signer, requests(2));
    expect(await codeOf(v.verify(unknown!))).toBe('UNKNOWN_KID');
    const [item] = await requestBatch(req1.signer, requests(2));
    const tampered = edit(item!, (i) => {
      const [h, p, s] = i.batch.split('.');
      i.batch = `${h}.${p}.${s!.slice(0, -2)}${s!.endsWith('AA') ? 'BA' : 'AA'}`;
    });
    expect(await codeOf(v.verify(tampered))).toBe('BAD_SIGNATURE');
    // A per-item request token in the head's place: wrong typ.
    const single = await signJwt(req1.signer, requestClaims(), { typ: 'txn+jwt' });
    expect(await codeOf(v.verify(edit(item!, (i) => (i.batch = single))))).toBe('TYP_MISMATCH');
  });

  it('an item issued (iat) after its head is BATCH_ITEM_AFTER_HEAD', async () => {
    const v = requestVerifier();
    const later = requests(2, { iat: NOW + 1 });
    const batching = createBatchSigner({
      signer: req1.signer,
      typ: 'txn+jwt',
      headClaims: (_items, tree) => requestBatchHeadClaims({ iss: 'req-1', iat: NOW, ...tree }),
    });
    const items = await Promise.all(later.map((c) => batching.sign(c)));
    expect(await codeOf(v.verify(items[0]!))).toBe('BATCH_ITEM_AFTER_HEAD');
    // The same claims under a head of their own time verify.
    const [fine] = await requestBatch(req1.signer, requests(2, { iat: NOW }));
    expect((await v.verify(fine!)).claims.iat).toBe(NOW);
  });

  it('a request batch head used for receipts is TYP_MISMATCH', async () => {
    const receipts = receiptVerifier();
    const receipt = receiptClaims(1, GENESIS_PREV);
    const tree = merkleBatch([receipt, receiptClaims(2, batchItemDigest(receipt))]);
    const requestHead = await signJwt(
      gw.signer,
      requestBatchHeadClaims({ iss: 'gw-1', iat: NOW, ...tree }),
      { typ: 'txn-batch+jwt' },
    );
    expect(await codeOf(receipts.verify(tree.items(requestHead)[0]!))).toBe('TYP_MISMATCH');
  });

  it('receipts: a head of another stream, seq range or chain head is BATCH_HEAD_MISMATCH', async () => {
    const receipts = receiptVerifier();
    const r1 = receiptClaims(1, GENESIS_PREV);
    const r2 = receiptClaims(2, batchItemDigest(r1));
    const r3 = receiptClaims(3, batchItemDigest(r2));
    const tree = merkleBatch([r1, r2, r3]);
    const good = receiptBatchHeadClaims([r1, r2, r3], { iat: NOW, root: tree.root });
    const sign = (claims: object) => signJwt(gw.signer, claims, { typ: 'txn-receipt-batch+jwt' });
    const items = tree.items(await sign(good));
    for (const [i, item] of items.entries()) {
      expect((await receipts.verify(item)).claims.seq).toBe(i + 1);
    }
    const heads = [
      { ...good, stream: 'gw-1/1' },
      { ...good, firstSeq: 2, seq: 4 },
      { ...good, head: batchItemDigest(r2) },
    ];
    for (const head of heads) {
      const forged = tree.items(await sign(head));
      const codes = await Promise.all(
        forged.map((f) => codeOf(receipts.verify(f)).catch(() => 'OK')),
      );
      expect(codes).toContain('BATCH_HEAD_MISMATCH');
    }
  });

  it('items are refused where no batch form exists, and a cached head is re-checked for `at`', async () => {
    const checkpoints = createVerifier({
      keys: staticKeys(toJwks([gw.signer])),
      issuers: ['gw-1'],
      audience: null,
      typ: 'txn-checkpoint+jwt',
    });
    const [item] = await requestBatch(req1.signer, requests(2));
    expect(await codeOf(checkpoints.verify(item!))).toBe('MALFORMED');
    // Items valid from NOW − 200 s under a head signed at NOW: as of NOW − 120 s the items
    // alone would pass, the head (from the cache) is not valid yet.
    const v = requestVerifier();
    const early = { iat: NOW - 200, nbf: NOW - 200, exp: NOW + 60 };
    const items = await requestBatch(req1.signer, requests(3, early));
    await v.verify(items[0]!);
    await expect(v.verify(items[1]!, { at: NOW_MS - 10_000 })).resolves.toBeDefined();
    expect(await codeOf(v.verify(items[2]!, { at: NOW_MS - 120_000 }))).toBe('NOT_YET_VALID');
  });
});

function receiptClaims(seq: number, prev: string) {
  return {
    v: 1,
    iss: 'gw-1',
    iat: NOW,
    jti: jti(seq),
    req: { jti: jti(seq), iss: 'req-1', sub: 'acct-1', sha256: 'C'.repeat(43) },
    messageId: `m-${seq}`,
    outcome: 'EXECUTED',
    fills: [{ quantity: '0.015', price: '64000.1' }],
    stream: 'gw-1/0',
    seq,
    prev,
  };
}
