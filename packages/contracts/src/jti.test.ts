import { describe, expect, it } from 'vitest';
import { Jti } from './ids.ts';
import { newJti } from './jti.ts';

describe('newJti', () => {
  it('is 22 base64url characters and never repeats across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const jti = newJti();
      expect(Jti.safeParse(jti).success).toBe(true);
      seen.add(jti);
    }
    expect(seen.size).toBe(5000);
  });

  it('sorts by creation time as a plain string, across every character of the time prefix', () => {
    // Times that carry into each of the 8 prefix characters, and today.
    const times = [
      0,
      1,
      63,
      64,
      4095,
      4096,
      2 ** 24,
      2 ** 30 + 5,
      Date.now(),
      2 ** 42 - 1,
      2 ** 48 - 1,
    ];
    const ids = times.map((t) => newJti(t));
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('the 14 characters after the time are random: same millisecond, different ids', () => {
    const a = newJti(1_800_000_000_000);
    const b = newJti(1_800_000_000_000);
    expect(a.slice(0, 8)).toBe(b.slice(0, 8));
    expect(a.slice(8)).not.toBe(b.slice(8));
    // Every base64url character shows up in the random part (uniform 6-bit values).
    const chars = new Set(Array.from({ length: 2000 }, () => newJti().slice(8)).join(''));
    expect(chars.size).toBe(64);
  });
});
