// Batch signing (issue #20): one signature over a Merkle tree head covers many requests or
// receipts; each item carries its claims, the signed head and its RFC 9162 inclusion proof.
//
//   head  = compact JWS, typ txn-batch+jwt (requests) / txn-receipt-batch+jwt (receipts),
//           claims {v, iss, iat, root, size} (+ receipts: {stream, firstSeq, seq, head})
//   item  = the canonical JSON text of {...claims, batch: <head JWS>, index, path}
//   leaf  = leafHash(UTF-8 of the canonical JSON of the claims) (= the item without
//           batch/index/path); root = the RFC 9162 tree of the batch's leaves in index order.
//
// Canonical JSON is RFC 8785 (JCS) for the values claims can hold (objects, arrays, strings,
// safe integers, booleans, null): members sorted by UTF-16 code units, no whitespace, strings and
// numbers as ECMAScript's JSON.stringify writes them. An item must travel in exactly that form:
// a verifier re-encodes what it parsed and refuses any difference, so no parser can read other
// claims than the ones hashed (a rounded big integer, a duplicate member, `1.0`, an escape).
import { z } from 'zod';
import { canonicalJson, sha256B64u } from './canonical.ts';
import { Identifier, Sha256 } from './ids.ts';
import { merkleTree, leafHash } from './merkle.ts';
import { StreamId, TokenTypes, WIRE_VERSION, type TokenType } from './claims.ts';

/** Typ of the head that signs a batch of each item typ. */
export const BatchTypOf = {
  [TokenTypes.REQUEST]: TokenTypes.REQUEST_BATCH,
  [TokenTypes.RECEIPT]: TokenTypes.RECEIPT_BATCH,
} as const;
export type BatchableType = keyof typeof BatchTypOf;
export type BatchHeadType = (typeof BatchTypOf)[BatchableType];

export function isBatchableType(typ: TokenType): typ is BatchableType {
  return Object.hasOwn(BatchTypOf, typ);
}

/** Default and largest batch sizes (a proof has at most log2(MAX_BATCH_SIZE) = 16 hashes). */
export const DEFAULT_BATCH_SIZE = 256;
export const MAX_BATCH_SIZE = 65_536;
/** The envelope members an item adds to its claims; claims never use these names. */
export const BATCH_MEMBERS = ['batch', 'index', 'path'] as const;

const NumericDate = z.number().int().nonnegative().max(253402300799);
const headBase = {
  v: z.literal(WIRE_VERSION),
  iss: Identifier,
  iat: NumericDate,
  /** Merkle tree head (RFC 9162), base64url. */
  root: Sha256,
  size: z.number().int().min(1).max(MAX_BATCH_SIZE),
};

export const RequestBatchHeadClaims = z.strictObject(headBase);
export type RequestBatchHeadClaims = z.infer<typeof RequestBatchHeadClaims>;

/**
 * A receipt batch is one stream's receipts `firstSeq..seq`, item `index` at seq
 * `firstSeq + index`; `head` is the stream's chain head after its last receipt (the digest of
 * that receipt, see batchItemDigest), so a receipt batch head is also a signed checkpoint.
 */
export const ReceiptBatchHeadClaims = z
  .strictObject({
    ...headBase,
    stream: StreamId,
    firstSeq: z.number().int().min(1),
    seq: z.number().int().min(1),
    head: Sha256,
  })
  .refine((h) => h.seq - h.firstSeq + 1 === h.size, {
    message: 'seq − firstSeq + 1 must equal size',
    path: ['seq'],
  });
export type ReceiptBatchHeadClaims = z.infer<typeof ReceiptBatchHeadClaims>;
export type BatchHeadClaims = RequestBatchHeadClaims | ReceiptBatchHeadClaims;

/** The envelope members of an item, unverified; types only (the proof is checked elsewhere). */
export const BatchEnvelope = z.strictObject({
  batch: z.string().min(1).max(4096),
  index: z.number(),
  path: z.array(z.string()).max(64),
});
export type BatchEnvelope = z.infer<typeof BatchEnvelope>;

/** The bytes a batch item's leaf hashes: its claims as canonical JSON, UTF-8. */
export function batchLeafBytes(claims: object): Buffer {
  return Buffer.from(canonicalJson(claims), 'utf8');
}

/**
 * A batched receipt's chain hash (its successor's `prev`, its head's `head`): SHA-256 of its
 * canonical claims. A per-item receipt's chain hash stays the SHA-256 of its token; a batched
 * one cannot hash its own envelope, which holds a head signed after the whole chain was built.
 */
export function batchItemDigest(claims: object): string {
  return sha256B64u(batchLeafBytes(claims));
}

/** An item token is JSON text; a per-item token is a compact JWS. Never trust this alone. */
export function isBatchItem(token: string): boolean {
  return token.charCodeAt(0) === 0x7b; // '{'
}

/**
 * The chain hash of a receipt token (the next receipt's `prev`): SHA-256 of a per-item JWS, the
 * claims digest of a batch item. For tokens already verified or stored by their own writer; an
 * unparsable item hashes as text, which links to nothing.
 */
export function receiptChainHash(token: string): string {
  if (!isBatchItem(token)) return sha256B64u(token);
  let parsed: unknown;
  try {
    parsed = JSON.parse(token);
  } catch {
    return sha256B64u(token);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return sha256B64u(token);
  }
  const claims: Record<string, unknown> = { ...(parsed as Record<string, unknown>) };
  for (const m of BATCH_MEMBERS) delete claims[m];
  return batchItemDigest(claims);
}

function assertNoEnvelopeMembers(claims: object): void {
  for (const m of BATCH_MEMBERS) {
    if (Object.hasOwn(claims, m)) throw new RangeError(`claims must not have a "${m}" member`);
  }
}

export interface MerkleBatch {
  /** Base64url tree head, for the head's `root`. */
  readonly root: string;
  readonly size: number;
  /** The item tokens, in input order, once the head over `root` is signed. */
  items(headJws: string): string[];
}

/** Builds the tree over `claims` (in order) and, given the signed head, each item's token. */
export function merkleBatch(claims: readonly object[]): MerkleBatch {
  claims.forEach(assertNoEnvelopeMembers);
  if (claims.length > MAX_BATCH_SIZE) {
    throw new RangeError(`a batch holds at most ${MAX_BATCH_SIZE} items`);
  }
  const tree = merkleTree(claims.map((c) => leafHash(batchLeafBytes(c))));
  return {
    root: tree.root.toString('base64url'),
    size: tree.size,
    items: (batch) =>
      claims.map((c, index) =>
        canonicalJson({
          ...c,
          batch,
          index,
          path: tree.proof(index).map((p) => p.toString('base64url')),
        }),
      ),
  };
}

/** Head claims of a request batch. */
export function requestBatchHeadClaims(p: {
  iss: string;
  iat: number;
  root: string;
  size: number;
}): RequestBatchHeadClaims {
  return { v: WIRE_VERSION, iss: p.iss, iat: p.iat, root: p.root, size: p.size };
}

/**
 * Head claims of a receipt batch: `receipts` must be one issuer's, of one stream, at
 * consecutive seqs in index order (what one stream writer produces); anything else throws.
 */
export function receiptBatchHeadClaims(
  receipts: readonly { iss: string; stream: string; seq: number }[],
  p: { iat: number; root: string },
): ReceiptBatchHeadClaims {
  const first = receipts[0];
  const last = receipts[receipts.length - 1];
  if (!first || !last) throw new RangeError('a receipt batch needs at least one receipt');
  receipts.forEach((r, i) => {
    if (r.iss !== first.iss || r.stream !== first.stream || r.seq !== first.seq + i) {
      throw new RangeError('a receipt batch is one stream at consecutive seqs');
    }
  });
  return {
    v: WIRE_VERSION,
    iss: first.iss,
    iat: p.iat,
    root: p.root,
    size: receipts.length,
    stream: first.stream,
    firstSeq: first.seq,
    seq: last.seq,
    head: batchItemDigest(last),
  };
}
