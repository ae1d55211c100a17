import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  addDecimals,
  compareDecimals,
  decimalPattern,
  decimalString,
  fromScaled,
  multiplyDecimals,
  toScaled,
} from './decimal.ts';

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

describe('decimalPattern: the exact set decimalString accepts (stated in the OpenAPI document)', () => {
  const precisions = [
    { intDigits: 12, fracDigits: 8 },
    { intDigits: 3, fracDigits: 2 },
    { intDigits: 1, fracDigits: 0 },
    { intDigits: 20, fracDigits: 16 },
  ];
  const agree = (precision: { intDigits: number; fracDigits: number }, s: string) => {
    const regex = new RegExp(decimalPattern(precision));
    return regex.test(s) === decimalString(precision).safeParse(s).success;
  };

  it('agrees with the schema on the edge cases', () => {
    const p = { intDigits: 3, fracDigits: 2 };
    const regex = new RegExp(decimalPattern(p));
    for (const ok of ['1', '999', '0.01', '0.1', '0.10', '10.5', '100.00']) {
      expect(regex.test(ok), ok).toBe(true);
      expect(decimalString(p).safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of [
      '',
      '0',
      '0.0',
      '0.00',
      '00.1',
      '01',
      '1.',
      '.5',
      '1000',
      '0.001',
      '-1',
      '1e3',
      ' 1',
      '１',
    ]) {
      expect(regex.test(bad), bad).toBe(false);
      expect(decimalString(p).safeParse(bad).success, bad).toBe(false);
    }
  });

  it('agrees with the schema on generated strings', () => {
    const digitsAndMore = fc.string({
      unit: fc.constantFrom('0', '1', '9', '.', '-', 'e', ' ', '5'),
      maxLength: 40,
    });
    fc.assert(
      fc.property(fc.constantFrom(...precisions), digitsAndMore, (p, s) => agree(p, s)),
      { numRuns: 1000 },
    );
    // Well-formed decimals around the digit limits.
    const decimal = fc
      .tuple(
        fc.string({ unit: fc.constantFrom('0', '1', '9'), maxLength: 22 }),
        fc.option(fc.string({ unit: fc.constantFrom('0', '3'), maxLength: 18 })),
      )
      .map(([int, frac]) => (frac === null ? int : `${int}.${frac}`));
    fc.assert(
      fc.property(fc.constantFrom(...precisions), decimal, (p, s) => agree(p, s)),
      { numRuns: 1000 },
    );
  });
});
