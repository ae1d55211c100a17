// Opens a batch item (contracts/batch.ts): the item must be canonical JSON, its head a valid JWS
// of the batch typ (verified once, then cached), its proof must lead from the leaf of its claims
// to the head's root, and the head must speak for this item (issuer; for receipts stream, seq and
// chain head). What comes out is a payload exactly as trustworthy as a verified JWS payload; the
// verifier then runs the same claims checks as for a per-item token (schema, iss, aud, time).
import {
  BatchEnvelope,
  batchItemDigest,
  batchLeafBytes,
  canonicalJson,
  HASH_BYTES,
  leafHash,
  verifyInclusion,
  type BatchHeadClaims,
  type BatchHeadType,
  type Clock,
} from '@countersign/contracts';
import { isVerificationError, VerificationError } from './errors.ts';
import type { KeyEntry } from './key-resolvers.ts';
import { parseStrictJson } from './strict-json.ts';
import type { Verified, Verifier, VerifyOptions } from './verifier.ts';

/** What the verifier reports about the batch a verified item came in. */
export interface VerifiedBatch {
  readonly typ: BatchHeadType;
  readonly head: BatchHeadClaims;
  /** The head JWS (one signature per batch: audit can count or store it once). */
  readonly token: string;
  readonly index: number;
}

export interface OpenedItem {
  /** The item's claims, proven to be in the signed tree (not yet schema-checked). */
  readonly payload: Record<string, unknown>;
  readonly key: KeyEntry;
  readonly alg: Verified<BatchHeadClaims>['header']['alg'];
  readonly kid: string;
  readonly batch: VerifiedBatch;
}

export interface BatchItemOptions {
  readonly heads: Verifier<BatchHeadClaims>;
  readonly headTyp: BatchHeadType;
  readonly clock: Clock;
  readonly skewSec: number;
  /** A cached head is verified again after this long (the longest token lifetime + skew). */
  readonly cacheTtlMs: number;
  readonly cacheMax: number;
}

interface CachedHead {
  readonly verified: Verified<BatchHeadClaims>;
  readonly root: Buffer;
}
interface CacheEntry {
  /** In flight or done: the items of one batch arrive together, and share one verification. */
  readonly head: Promise<CachedHead>;
  readonly until: number;
}

function fail(code: VerificationError['code'], message: string, claim?: string): never {
  throw new VerificationError(code, message, claim === undefined ? {} : { claim });
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function createBatchItemOpener(o: BatchItemOptions) {
  // Heads by their exact JWS text, oldest first (Map order) for eviction.
  const cache = new Map<string, CacheEntry>();

  // As of now, not of a caller's `at`: the result is shared, so it must not depend on who asked
  // first. The one time-dependent check (iat) is applied per item below.
  async function verifyHead(token: string): Promise<CachedHead> {
    try {
      const verified = await o.heads.verify(token);
      return { verified, root: Buffer.from(verified.claims.root, 'base64url') };
    } catch (err) {
      if (isVerificationError(err)) {
        throw new VerificationError(err.code, `batch head: ${err.message}`, { claim: 'batch' });
      }
      throw err;
    }
  }

  async function head(token: string, opts?: VerifyOptions): Promise<CachedHead> {
    const now = o.clock.now();
    let entry = cache.get(token);
    if (!entry || entry.until <= now) {
      if (entry) cache.delete(token);
      entry = { head: verifyHead(token), until: now + o.cacheTtlMs };
      if (cache.size >= o.cacheMax) cache.delete(cache.keys().next().value!);
      cache.set(token, entry);
      // A head that failed is not kept: the next item tries again (and fails the same way).
      const failed = entry;
      failed.head.catch(() => {
        if (cache.get(token) === failed) cache.delete(token);
      });
    }
    const verified = await entry.head;
    // The head's time check, for this item's `at` (audit verifies as of an earlier time).
    const at = (opts?.at ?? now) / 1000;
    if (verified.verified.claims.iat > at + o.skewSec) {
      fail('NOT_YET_VALID', 'batch head: iat is in the future', 'iat');
    }
    return verified;
  }

  return {
    async open(token: string, opts?: VerifyOptions): Promise<OpenedItem> {
      // 1. strict JSON object, in canonical form (what is hashed is what every parser reads)
      const parsed = parseStrictJson(token);
      if (!parsed.ok) fail('MALFORMED', `batch item: ${parsed.reason}`);
      if (!isRecord(parsed.value)) fail('MALFORMED', 'batch item is not a JSON object');
      if (canonicalJson(parsed.value) !== token) {
        fail('BATCH_LEAF_NONCANONICAL', 'batch item is not canonical JSON (RFC 8785)');
      }
      const { batch, index, path, ...unverifiedClaims } = parsed.value;
      const envelope = BatchEnvelope.safeParse({ batch, index, path });
      if (!envelope.success) fail('MALFORMED', 'batch item needs batch, index and path');
      // 2. the head: a JWS of the batch typ from a trusted key (cached once verified)
      const { verified, root } = await head(envelope.data.batch, opts);
      const h = verified.claims;
      // 3. the proof: index in the tree, path of the exact length, leaf of the claims → root
      const i = envelope.data.index;
      if (!Number.isSafeInteger(i) || i < 0 || i >= h.size) {
        fail('BATCH_INDEX_OUT_OF_RANGE', `index ${i} is not in a batch of ${h.size}`, 'index');
      }
      const hashes = envelope.data.path.map((text) => {
        const bytes = Buffer.from(text, 'base64url');
        if (bytes.length !== HASH_BYTES || bytes.toString('base64url') !== text) {
          fail('BATCH_PROOF_LENGTH', 'every path entry must be a base64url SHA-256', 'path');
        }
        return bytes;
      });
      const leaf = leafHash(batchLeafBytes(unverifiedClaims));
      const inclusion = verifyInclusion(leaf, i, h.size, hashes, root);
      if (!inclusion.ok) {
        if (inclusion.reason === 'PROOF_LENGTH') {
          fail('BATCH_PROOF_LENGTH', `wrong proof length for index ${i} of ${h.size}`, 'path');
        }
        if (inclusion.reason === 'INDEX_OUT_OF_RANGE') {
          fail('BATCH_INDEX_OUT_OF_RANGE', `index ${i} is not in the batch`, 'index');
        }
        fail('BATCH_ROOT_MISMATCH', 'the proof does not lead to the signed root', 'path');
      }
      const claims = unverifiedClaims; // proven: these are the signed claims
      // 4. the head speaks for this item
      if (claims.iss !== h.iss) fail('BATCH_HEAD_MISMATCH', 'batch head of another issuer', 'iss');
      // A head signs items that exist: one claiming a later iat was not issued when it says.
      if (typeof claims.iat === 'number' && claims.iat > h.iat) {
        fail('BATCH_ITEM_AFTER_HEAD', 'the item’s iat is later than its head’s', 'iat');
      }
      if ('stream' in h) {
        if (claims.stream !== h.stream) {
          fail('BATCH_HEAD_MISMATCH', 'batch head of another stream', 'stream');
        }
        if (claims.seq !== h.firstSeq + i) {
          fail('BATCH_HEAD_MISMATCH', `item ${i} must have seq ${h.firstSeq + i}`, 'seq');
        }
        if (i === h.size - 1 && batchItemDigest(claims) !== h.head) {
          fail('BATCH_HEAD_MISMATCH', 'the last item is not the head’s chain head', 'head');
        }
      }
      return {
        payload: claims,
        key: verified.key,
        alg: verified.header.alg,
        kid: verified.header.kid,
        batch: { typ: o.headTyp, head: h, token: envelope.data.batch, index: i },
      };
    },
  };
}
