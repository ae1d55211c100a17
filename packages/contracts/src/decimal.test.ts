import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { addDecimals, compareDecimals, fromScaled, multiplyDecimals, toScaled } from './decimal.ts';

describe('exact decimal arithmetic', () => {
  it('multiplies without float error', () => {
    expect(multiplyDecimals('0.1', '0.2')).toBe('0.02');
    expect(multiplyDecimals('0.015', '64000.10')).toBe('960.0015');
    expect(multiplyDecimals('123456789012.12345678', '99999999.99999999')).toBe(
      '12345678901212344443.4321098787654322',
    );
  });

  it('compares across scales', () => {
    expect(compareDecimals('1.10', '1.1')).toBe(0);
    expect(compareDecimals('1000000.00000001', '1000000')).toBe(1);
    expect(compareDecimals('0.0009', '0.001')).toBe(-1);
  });

  it('adds', () => {
    expect(addDecimals(['0.1', '0.2', '3'])).toBe('3.3');
    expect(addDecimals([])).toBe('0');
  });

  it('round-trips scaled integers', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.integer({ min: 0, max: 18 }),
        (v, scale) => {
          expect(toScaled(fromScaled(v, scale), scale)).toBe(v);
        },
      ),
    );
  });

  it('agrees with bigint math on random products', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 20n }),
        fc.bigInt({ min: 1n, max: 10n ** 20n }),
        (a, b) => {
          expect(toScaled(multiplyDecimals(fromScaled(a, 8), fromScaled(b, 8)), 16)).toBe(a * b);
        },
      ),
    );
  });
});
