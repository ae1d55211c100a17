// One answer per request and per message (DESIGN.md §1: every request ends in exactly one
// receipt). A receipt answers the message it names and, when it names its request and is not the
// REPLAYED refusal of a copy, that request; a follow-up (`resolves`) completes an UNKNOWN and
// answers nothing new. A second answer is ANSWERED_TWICE: e.g. a request executed again after
// its nonce record was lost (the exchange's client order id dedup hides it from reconcile), or a
// message answered EXECUTED and later REJECTED EXPIRED. Both receipts link fine in their chain,
// so nothing else in the audit sees it.
//
// The audit keeps this for the whole history (a second answer may come days later), so it lives
// in typed arrays, not a Map of strings: an open-addressing table of 96-bit SHA-256 prefixes of
// the keys (not the ids themselves) and the first answer's stream id × 2^32 + seq. 20 bytes a
// slot at a load of 0.35-0.7: 29-57 bytes an entry, two entries a receipt (~84 MB for
// 1,000,000 receipts, ~137 bytes an entry as a Map), outside the JS heap; a doubling briefly
// holds the old arrays too.
import { createHash } from 'node:crypto';
import { NonceKeys, type Finding, type ReceiptClaims } from '@countersign/contracts';

/** What the index reads of a receipt. */
export type AnswerClaims = Pick<
  ReceiptClaims,
  'resolves' | 'messageId' | 'outcome' | 'reason' | 'stream' | 'seq' | 'jti'
> & { readonly req: Pick<ReceiptClaims['req'], 'iss' | 'jti'> };

const KEY_WORDS = 3;
const MAX_LOAD = 0.7;

/**
 * Linear-probing hash table from a 96-bit key (three uint32 words) to a positive number, in
 * typed arrays. A value of 0 marks an empty slot, so every key, all-zero included, is storable.
 */
export class AnswerTable {
  private keys: Uint32Array;
  private values: Float64Array;
  private mask: number;
  size = 0;

  /** `slots` is rounded up to a power of two. */
  constructor(slots = 1024) {
    let n = 8;
    while (n < slots) n *= 2;
    this.keys = new Uint32Array(n * KEY_WORDS);
    this.values = new Float64Array(n);
    this.mask = n - 1;
  }

  get slots(): number {
    return this.values.length;
  }

  /** The value stored under the key; if there is none, stores `value` and returns undefined. */
  getOrSet(k0: number, k1: number, k2: number, value: number): number | undefined {
    if (!(value > 0)) throw new RangeError(`answer table values are positive, got ${value}`);
    const { keys, values, mask } = this;
    let i = k0 & mask;
    for (;;) {
      const v = values[i]!;
      if (v === 0) break;
      const b = i * KEY_WORDS;
      if (keys[b] === k0 && keys[b + 1] === k1 && keys[b + 2] === k2) return v;
      i = (i + 1) & mask;
    }
    if (this.size + 1 > values.length * MAX_LOAD) {
      this.grow();
      return this.getOrSet(k0, k1, k2, value);
    }
    const b = i * KEY_WORDS;
    keys[b] = k0;
    keys[b + 1] = k1;
    keys[b + 2] = k2;
    values[i] = value;
    this.size++;
    return undefined;
  }

  private grow(): void {
    const { keys, values } = this;
    const n = values.length * 2;
    this.keys = new Uint32Array(n * KEY_WORDS);
    this.values = new Float64Array(n);
    this.mask = n - 1;
    for (let j = 0; j < values.length; j++) {
      const v = values[j]!;
      if (v === 0) continue;
      const b = j * KEY_WORDS;
      let i = keys[b]! & this.mask;
      while (this.values[i] !== 0) i = (i + 1) & this.mask;
      this.keys.set(keys.subarray(b, b + KEY_WORDS), i * KEY_WORDS);
      this.values[i] = v;
    }
  }
}

export class AnswerIndex {
  private readonly streams: string[] = [];
  private readonly streamIds = new Map<string, number>();
  /** Hashed key → the first answer's stream id × 2^32 + seq (≥ 1: seqs start at 1). */
  private readonly first: AnswerTable;

  constructor(options: { readonly initialSlots?: number } = {}) {
    this.first = new AnswerTable(options.initialSlots);
  }

  /** Records the answers of a newly accepted receipt; findings for any already answered. */
  add(claims: AnswerClaims): Finding[] {
    if (claims.resolves !== undefined) return [];
    const keys: [string, string][] = [[`message ${claims.messageId}`, `m:${claims.messageId}`]];
    const { iss, jti } = claims.req;
    if (iss && jti && !(claims.outcome === 'REJECTED' && claims.reason === 'REPLAYED')) {
      const key = NonceKeys.request(iss, jti);
      keys.push([`request ${key}`, `r:${key}`]);
    }
    let id = this.streamIds.get(claims.stream);
    if (id === undefined) {
      id = this.streams.push(claims.stream) - 1;
      this.streamIds.set(claims.stream, id);
    }
    const here = id * 2 ** 32 + claims.seq;
    const found: Finding[] = [];
    for (const [what, key] of keys) {
      const d = createHash('sha256').update(key).digest();
      const had = this.first.getOrSet(
        d.readUInt32BE(0),
        d.readUInt32BE(4),
        d.readUInt32BE(8),
        here,
      );
      if (had === undefined || had === here) continue;
      const at = `${this.streams[Math.floor(had / 2 ** 32)]}#${had % 2 ** 32}`;
      found.push({
        code: 'ANSWERED_TWICE',
        stream: claims.stream,
        seq: claims.seq,
        jti: claims.jti,
        message: `${what} was already answered by receipt ${at}; this is a second answer (${claims.outcome}${claims.reason ? ` ${claims.reason}` : ''})`,
      });
    }
    return found;
  }
}
