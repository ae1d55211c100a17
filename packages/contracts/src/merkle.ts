// Merkle trees as RFC 9162 §2.1 defines them (Certificate Transparency v2): SHA-256, leaf hash
// HASH(0x00 || entry), node hash HASH(0x01 || left || right), a tree of n leaves split at the
// largest power of two below n. The distinct prefixes are what stop a node being passed off as
// a leaf (second preimage). Batch signing (one signature over a tree head, an inclusion proof
// per item) is built on this; nothing here knows about tokens.
import { createHash } from 'node:crypto';

const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);

export const HASH_BYTES = 32;

export function leafHash(entry: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF).update(entry).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE).update(left).update(right).digest();
}

export interface MerkleTree {
  readonly root: Buffer;
  readonly size: number;
  /** The audit path of leaf `index`, from the leaf's sibling up to the root's child. */
  proof(index: number): Buffer[];
}

/**
 * Builds the tree of `leaves` (already leaf-hashed) level by level. A level's odd last node is
 * carried up unpaired, which gives exactly RFC 9162's split-at-a-power-of-two shape.
 */
export function merkleTree(leaves: readonly Uint8Array[]): MerkleTree {
  if (leaves.length === 0) throw new RangeError('a Merkle tree needs at least one leaf');
  const levels: Buffer[][] = [leaves.map((l) => Buffer.from(l))];
  for (let level = levels[0]!; level.length > 1;) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1];
      up.push(right ? nodeHash(level[i]!, right) : level[i]!);
    }
    levels.push(up);
    level = up;
  }
  return {
    root: levels[levels.length - 1]![0]!,
    size: leaves.length,
    proof(index) {
      if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
        throw new RangeError(`leaf ${index} is not in a tree of ${leaves.length}`);
      }
      const path: Buffer[] = [];
      let i = index;
      for (const level of levels.slice(0, -1)) {
        const sibling = level[i ^ 1];
        if (sibling) path.push(sibling);
        i >>= 1;
      }
      return path;
    },
  };
}

export type InclusionFailure = 'INDEX_OUT_OF_RANGE' | 'PROOF_LENGTH' | 'ROOT_MISMATCH';

/**
 * RFC 9162 §2.1.3.2: does `path` prove that `leaf` (a leaf hash) is entry `index` of the tree
 * of `size` leaves with head `root`? A path of the wrong length for (index, size) fails with
 * PROOF_LENGTH before any hash is compared, so an attacker cannot stretch or cut a proof.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  path: readonly Uint8Array[],
  root: Uint8Array,
): { ok: true } | { ok: false; reason: InclusionFailure } {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    return { ok: false, reason: 'INDEX_OUT_OF_RANGE' };
  }
  if (path.length !== proofLength(index, size) || path.some((p) => p.length !== HASH_BYTES)) {
    return { ok: false, reason: 'PROOF_LENGTH' };
  }
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of path) {
    if (sn === 0) return { ok: false, reason: 'PROOF_LENGTH' };
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0 || r.length !== root.length || !r.equals(Buffer.from(root))) {
    return { ok: false, reason: 'ROOT_MISMATCH' };
  }
  return { ok: true };
}

/** How many hashes the audit path of leaf `index` in a tree of `size` has. */
export function proofLength(index: number, size: number): number {
  let n = 0;
  for (let i = index, last = size - 1; last > 0; i >>= 1, last >>= 1) {
    if ((i ^ 1) <= last) n++;
  }
  return n;
}
