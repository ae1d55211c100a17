// AnswerIndex against a plain Map of the raw keys: any sequence of receipts (ids repeated across
// streams and seqs, follow-ups, REPLAYED refusals, the same receipt twice) gives the same
// findings with the same messages, through many doublings of the table.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NonceKeys, type Finding } from '@countersign/contracts';
import { AnswerIndex, type AnswerClaims } from './answers.ts';

/** The straightforward version: raw keys, no hashing, no packing. */
class ReferenceIndex {
  private readonly first = new Map<string, { stream: string; seq: number }>();

  add(c: AnswerClaims): Finding[] {
    if (c.resolves !== undefined) return [];
    const keys: [string, string][] = [[`message ${c.messageId}`, `m:${c.messageId}`]];
    const { iss, jti } = c.req;
    if (iss && jti && !(c.outcome === 'REJECTED' && c.reason === 'REPLAYED')) {
      keys.push([`request ${NonceKeys.request(iss, jti)}`, `r:${NonceKeys.request(iss, jti)}`]);
    }
    const found: Finding[] = [];
    for (const [what, key] of keys) {
      const had = this.first.get(key);
      if (!had) this.first.set(key, { stream: c.stream, seq: c.seq });
      else if (had.stream !== c.stream || had.seq !== c.seq) {
        const reason = c.reason ? ` ${c.reason}` : '';
        found.push({
          code: 'ANSWERED_TWICE',
          stream: c.stream,
          seq: c.seq,
          jti: c.jti,
          message: `${what} was already answered by receipt ${had.stream}#${had.seq}; this is a second answer (${c.outcome}${reason})`,
        });
      }
    }
    return found;
  }
}

const ENDINGS = [
  { outcome: 'EXECUTED' },
  { outcome: 'REJECTED', reason: 'REPLAYED' },
  { outcome: 'REJECTED', reason: 'EXPIRED' },
  { outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT' },
  { outcome: 'FAILED', reason: 'EXCHANGE_REJECTED' },
] as const;

const id = (n: number) => `id-${n}`;

/** Small pools so that ids, streams and seqs repeat; `spread` sets how many distinct keys. */
const receipt = (spread: number): fc.Arbitrary<AnswerClaims> =>
  fc
    .record({
      messageId: fc.noBias(fc.nat(spread)).map(id),
      iss: fc.option(fc.constantFrom('requester-a', 'requester-b'), { nil: null }),
      reqJti: fc.option(fc.noBias(fc.nat(spread)).map(id), { nil: null }),
      stream: fc.constantFrom('gw-1/p0', 'gw-1/p1', 'gw-2/p0'),
      seq: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 1, max: 40 }) },
        { weight: 1, arbitrary: fc.constant(2 ** 32 - 1) },
      ),
      ending: fc.constantFrom(...ENDINGS),
      // One in eight is a follow-up.
      resolves: fc.oneof(
        { weight: 7, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constant('r-unknown') },
      ),
      jti: fc.nat(1_000_000).map((n) => `r-${n}`),
    })
    .map((r): AnswerClaims => ({
      messageId: r.messageId,
      req: { iss: r.iss, jti: r.reqJti },
      stream: r.stream,
      seq: r.seq,
      ...r.ending,
      ...(r.resolves === undefined ? {} : { resolves: r.resolves }),
      jti: r.jti,
    }));

/** Receipts, or "apply the n-th earlier receipt again". */
const plan = (spread: number, minLength: number, maxLength: number) =>
  fc.array(fc.oneof({ weight: 4, arbitrary: receipt(spread) }, fc.nat()), {
    minLength,
    maxLength,
    size: 'max',
  });

function sameAsReference(steps: (AnswerClaims | number)[], index: AnswerIndex): void {
  const ref = new ReferenceIndex();
  const applied: AnswerClaims[] = [];
  for (const step of steps) {
    const c = typeof step === 'number' ? applied[step % Math.max(1, applied.length)] : step;
    if (!c) continue;
    applied.push(c);
    expect(index.add(c)).toEqual(ref.add(c));
  }
}

describe('AnswerIndex', () => {
  it('reports exactly what a Map of the raw keys reports, across table growths', () => {
    fc.assert(
      fc.property(plan(60, 1, 300), (steps) =>
        sameAsReference(steps, new AnswerIndex({ initialSlots: 8 })),
      ),
      { numRuns: 200 },
    );
  });

  it('does so with the default table over a few thousand receipts', () => {
    fc.assert(
      fc.property(plan(3000, 2500, 3000), (steps) => sameAsReference(steps, new AnswerIndex())),
      { numRuns: 5 },
    );
  });
});
