// Per-stream chain state in chunked typed arrays: for each seq seen, a present flag, the outcome,
// a "has finding" flag, the receipt time and 128-bit prefixes of the receipt hash and of `prev`.
// 37 bytes a receipt whatever the arrival order: a 1,000,000-receipt replay holds ~37 MB here;
// besides, only the answer index (answers.ts) grows with the number of receipts. Chunks make
// sparse or far-apart seqs cheap.
import { DIGEST_WORDS } from './digest.ts';

const CHUNK = 1024;
const PRESENT = 1;
const FINDING = 8;
// Outcome index in bits 1-2.
export const OUTCOME_INDEX = { EXECUTED: 0, REJECTED: 1, FAILED: 2, UNKNOWN: 3 } as const;
export type OutcomeName = keyof typeof OUTCOME_INDEX;
const OUTCOME_NAMES: readonly OutcomeName[] = ['EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN'];

interface Chunk {
  readonly flags: Uint8Array;
  readonly iat: Uint32Array;
  readonly hash: Uint32Array;
  readonly prev: Uint32Array;
}

export interface SlotView {
  readonly seq: number;
  readonly outcome: OutcomeName;
  readonly finding: boolean;
  readonly iat: number;
}

export class StreamTable {
  private readonly chunks = new Map<number, Chunk>();
  minSeq: number | null = null;
  maxSeq: number | null = null;
  count = 0;

  private chunk(seq: number, create: true): Chunk;
  private chunk(seq: number, create: false): Chunk | undefined;
  private chunk(seq: number, create: boolean): Chunk | undefined {
    const idx = Math.floor(seq / CHUNK);
    let c = this.chunks.get(idx);
    if (!c && create) {
      c = {
        flags: new Uint8Array(CHUNK),
        iat: new Uint32Array(CHUNK),
        hash: new Uint32Array(CHUNK * DIGEST_WORDS),
        prev: new Uint32Array(CHUNK * DIGEST_WORDS),
      };
      this.chunks.set(idx, c);
    }
    return c;
  }

  has(seq: number): boolean {
    const c = this.chunk(seq, false);
    return c !== undefined && (c.flags[seq % CHUNK]! & PRESENT) !== 0;
  }

  /** True when the stored receipt at seq has exactly this hash prefix (seq must be present). */
  hashEquals(seq: number, words: Uint32Array): boolean {
    const c = this.chunk(seq, false);
    if (!c) return false;
    const base = (seq % CHUNK) * DIGEST_WORDS;
    for (let i = 0; i < DIGEST_WORDS; i++) if (c.hash[base + i] !== words[i]) return false;
    return true;
  }

  /** True when the stored receipt at `seq` has `prev` equal to these words. */
  prevEquals(seq: number, words: Uint32Array): boolean {
    const c = this.chunk(seq, false);
    if (!c) return false;
    const base = (seq % CHUNK) * DIGEST_WORDS;
    for (let i = 0; i < DIGEST_WORDS; i++) if (c.prev[base + i] !== words[i]) return false;
    return true;
  }

  hashWords(seq: number): Uint32Array | undefined {
    const c = this.chunk(seq, false);
    if (!c || (c.flags[seq % CHUNK]! & PRESENT) === 0) return undefined;
    const base = (seq % CHUNK) * DIGEST_WORDS;
    return c.hash.slice(base, base + DIGEST_WORDS);
  }

  /** The receipt's iat (epoch s) at a present seq. */
  iatOf(seq: number): number | undefined {
    const c = this.chunk(seq, false);
    if (!c || (c.flags[seq % CHUNK]! & PRESENT) === 0) return undefined;
    return c.iat[seq % CHUNK];
  }

  put(seq: number, outcome: OutcomeName, iat: number, hash: Uint32Array, prev: Uint32Array): void {
    const c = this.chunk(seq, true);
    const i = seq % CHUNK;
    c.flags[i] = PRESENT | (OUTCOME_INDEX[outcome] << 1);
    c.iat[i] = iat;
    c.hash.set(hash, i * DIGEST_WORDS);
    c.prev.set(prev, i * DIGEST_WORDS);
    this.count++;
    if (this.minSeq === null || seq < this.minSeq) this.minSeq = seq;
    if (this.maxSeq === null || seq > this.maxSeq) this.maxSeq = seq;
  }

  markFinding(seq: number): void {
    const c = this.chunk(seq, false);
    if (c && (c.flags[seq % CHUNK]! & PRESENT) !== 0) c.flags[seq % CHUNK]! |= FINDING;
  }

  /** Missing seqs in [from, to] as inclusive ranges, without visiting absent chunks one by one. */
  missingRanges(from: number, to: number): [number, number][] {
    const out: [number, number][] = [];
    let open: number | null = null;
    let seq = from;
    while (seq <= to) {
      const c = this.chunk(seq, false);
      if (!c) {
        open ??= seq;
        seq = (Math.floor(seq / CHUNK) + 1) * CHUNK;
        continue;
      }
      const present = (c.flags[seq % CHUNK]! & PRESENT) !== 0;
      if (!present) open ??= seq;
      else if (open !== null) {
        out.push([open, seq - 1]);
        open = null;
      }
      seq++;
    }
    if (open !== null) out.push([open, to]);
    return out;
  }

  /** Present slots in [from, to], in seq order. */
  *slots(from: number, to: number): Generator<SlotView> {
    const first = Math.floor(from / CHUNK);
    const last = Math.floor(to / CHUNK);
    const indices = [...this.chunks.keys()]
      .filter((k) => k >= first && k <= last)
      .sort((a, b) => a - b);
    for (const k of indices) {
      const c = this.chunks.get(k)!;
      for (let i = 0; i < CHUNK; i++) {
        const seq = k * CHUNK + i;
        if (seq < from || seq > to) continue;
        const f = c.flags[i]!;
        if ((f & PRESENT) === 0) continue;
        yield {
          seq,
          outcome: OUTCOME_NAMES[(f >> 1) & 3]!,
          finding: (f & FINDING) !== 0,
          iat: c.iat[i]!,
        };
      }
    }
  }
}
