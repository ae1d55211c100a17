import { describe, expect, it } from 'vitest';
import { newJti } from './jti.ts';

describe('newJti', () => {
  it('is 22 base64url characters (128 bits) and never repeats across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const jti = newJti();
      expect(jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(jti, 'base64url')).toHaveLength(16);
      seen.add(jti);
    }
    expect(seen.size).toBe(5000);
  });
});
