import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalSha256 } from './canonical-json.ts';

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, seed));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const rotated = entries.map((_, i) => entries[(i + seed) % entries.length]!);
    return Object.fromEntries(rotated.map(([k, v]) => [k, shuffleKeys(v, seed + 1)]));
  }
  return value;
}

describe('canonicalJson', () => {
  it('is independent of key order and round-trips to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(20), (value, seed) => {
        const canon = canonicalJson(value);
        expect(canonicalJson(shuffleKeys(value, seed))).toBe(canon);
        expect(canonicalJson(JSON.parse(canon))).toBe(canon);
      }),
    );
  });

  it('tells different bodies apart', () => {
    expect(canonicalSha256({ a: '1', b: 2 })).toBe(canonicalSha256({ b: 2, a: '1' }));
    expect(canonicalSha256({ a: '1' })).not.toBe(canonicalSha256({ a: 1 }));
    expect(canonicalSha256([1, 2])).not.toBe(canonicalSha256([2, 1]));
  });
});
