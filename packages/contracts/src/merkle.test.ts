// The tree against RFC 9162 §2.1's recursive definitions written out literally, for every size
// up to 70 and every leaf; then the proofs an attacker would try.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { leafHash, merkleTree, nodeHash, proofLength, verifyInclusion } from './merkle.ts';

const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
/** Largest power of two strictly below n (n > 1). */
const split = (n: number) => 2 ** Math.floor(Math.log2(n - 1));

/** MTH(D[n]) of RFC 9162 §2.1.1, over raw entries. */
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.from([0]), d[0]!);
  const k = split(d.length);
  return sha(Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k)));
}

/** PATH(m, D[n]) of RFC 9162 §2.1.3.1. */
function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k
    ? [...path(m, d.slice(0, k)), mth(d.slice(k))]
    : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}

const entries = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`entry-${i}`));

describe('merkleTree (RFC 9162)', () => {
  it('has the root and audit paths of the RFC definitions for every size 1..70', () => {
    for (let n = 1; n <= 70; n++) {
      const d = entries(n);
      const tree = merkleTree(d.map(leafHash));
      expect(tree.root.equals(mth(d)), `root of ${n}`).toBe(true);
      for (let m = 0; m < n; m++) {
        const p = tree.proof(m);
        expect(
          p.map((h) => h.toString('hex')),
          `path ${m} of ${n}`,
        ).toEqual(path(m, d).map((h) => h.toString('hex')));
        expect(p).toHaveLength(proofLength(m, n));
        expect(verifyInclusion(leafHash(d[m]!), m, n, p, tree.root)).toEqual({ ok: true });
      }
    }
  });

  it('refuses an empty tree and a leaf outside it', () => {
    expect(() => merkleTree([])).toThrow(RangeError);
    expect(() => merkleTree(entries(3).map(leafHash)).proof(3)).toThrow(RangeError);
  });
});

describe('verifyInclusion refuses', () => {
  const d = entries(13);
  const tree = merkleTree(d.map(leafHash));
  const leaf5 = leafHash(d[5]!);
  const proof5 = tree.proof(5);

  it('an index outside the tree, negative or not an integer', () => {
    for (const index of [13, 99, -1, 1.5, Number.NaN]) {
      expect(verifyInclusion(leaf5, index, 13, proof5, tree.root)).toEqual({
        ok: false,
        reason: 'INDEX_OUT_OF_RANGE',
      });
    }
  });

  it('a path one hash too long or too short, or with a hash of the wrong size', () => {
    const bad = [[...proof5, proof5[0]!], proof5.slice(1), [Buffer.alloc(31), ...proof5.slice(1)]];
    for (const p of bad) {
      expect(verifyInclusion(leaf5, 5, 13, p, tree.root)).toEqual({
        ok: false,
        reason: 'PROOF_LENGTH',
      });
    }
  });

  it('another index, a swapped path, another entry, another root', () => {
    // (The size only shapes the walk; it is bound by the signed head that carries it.)
    const miss = { ok: false, reason: 'ROOT_MISMATCH' };
    expect(verifyInclusion(leaf5, 4, 13, proof5, tree.root)).toEqual(miss);
    expect(verifyInclusion(leaf5, 5, 13, [...proof5].reverse(), tree.root)).toEqual(miss);
    expect(verifyInclusion(leafHash(d[6]!), 5, 13, proof5, tree.root)).toEqual(miss);
    const other = merkleTree(entries(13).map((e) => leafHash(Buffer.concat([e, e]))));
    expect(verifyInclusion(leaf5, 5, 13, proof5, other.root)).toEqual(miss);
  });

  it('an inner node presented as an entry (second preimage): the leaf prefix differs', () => {
    // Leaves 0 and 1 hash to node n01 = H(1 || l0 || l1). Claim "l0 || l1" is an entry of a
    // tree of 12 at index 0, with the proof of n01's position: it must not verify.
    const l0 = leafHash(d[0]!);
    const l1 = leafHash(d[1]!);
    expect(nodeHash(l0, l1).equals(leafHash(Buffer.concat([l0, l1])))).toBe(false);
    const forged = leafHash(Buffer.concat([l0, l1]));
    const upper = tree.proof(0).slice(1); // n01's path to the root
    for (const size of [7, 12, 13]) {
      expect(verifyInclusion(forged, 0, size, upper, tree.root).ok).toBe(false);
    }
  });
});
