import { describe, expect, it } from 'vitest';
import { CountersignError, errorCodeOf, verificationCodeOf } from './errors.ts';

describe('errorCodeOf / verificationCodeOf', () => {
  it('reads a string code from anything, and recognizes only verifier codes', () => {
    expect(errorCodeOf(new CountersignError('EXPIRED', 'x'))).toBe('EXPIRED');
    expect(errorCodeOf(Object.assign(new Error('x'), { code: 'SQLITE_BUSY' }))).toBe('SQLITE_BUSY');
    for (const v of [null, undefined, 'EXPIRED', 42, {}, { code: 7 }]) {
      expect(errorCodeOf(v)).toBeUndefined();
    }
    expect(verificationCodeOf({ code: 'BAD_SIGNATURE' })).toBe('BAD_SIGNATURE');
    expect(verificationCodeOf(new CountersignError('STORE_FAILED', 'x'))).toBeUndefined();
  });
});
