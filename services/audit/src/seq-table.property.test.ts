// StreamTable against a naive model: any set of seqs (across chunk boundaries, sparse or dense)
// gives the same missing ranges and slots as a plain Set would.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StreamTable } from './seq-table.ts';

const W = new Uint32Array([1, 2, 3, 4]);

describe('StreamTable', () => {
  it('reports exactly the missing ranges of a naive set', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 5000 }), { maxLength: 300 }), (seqs) => {
        const t = new StreamTable();
        for (const s of seqs) t.put(s, 'EXECUTED', s, W, W);
        const max = Math.max(0, ...seqs);
        const present = new Set(seqs);
        const expected: [number, number][] = [];
        for (let s = 1; s <= max; s++) {
          if (present.has(s)) continue;
          const last = expected[expected.length - 1];
          if (last && last[1] === s - 1) last[1] = s;
          else expected.push([s, s]);
        }
        expect(t.missingRanges(1, max)).toEqual(expected);
        expect([...t.slots(1, max)].map((x) => x.seq)).toEqual([...seqs].sort((a, b) => a - b));
        expect(t.count).toBe(seqs.length);
      }),
      { numRuns: 200 },
    );
  });

  it('tells an identical hash from a different one and keeps flags per seq', () => {
    const t = new StreamTable();
    t.put(1023, 'REJECTED', 7, W, new Uint32Array([9, 9, 9, 9]));
    t.put(1024, 'UNKNOWN', 8, new Uint32Array([5, 6, 7, 8]), W);
    t.markFinding(1024);
    expect(t.hashEquals(1023, W)).toBe(true);
    expect(t.hashEquals(1023, new Uint32Array([1, 2, 3, 5]))).toBe(false);
    expect(t.prevEquals(1024, W)).toBe(true);
    expect([...t.slots(1000, 2000)]).toEqual([
      { seq: 1023, outcome: 'REJECTED', finding: false, iat: 7 },
      { seq: 1024, outcome: 'UNKNOWN', finding: true, iat: 8 },
    ]);
    expect(t.missingRanges(1020, 1030)).toEqual([
      [1020, 1022],
      [1025, 1030],
    ]);
  });
});
