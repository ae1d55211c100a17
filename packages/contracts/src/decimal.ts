// Money and quantities travel as decimal strings: exact, no float ever touches them.
import { z } from 'zod';
import { CountersignError } from './errors.ts';

export interface DecimalPrecision {
  /** Max digits before the point. */
  readonly intDigits: number;
  /** Max digits after the point. */
  readonly fracDigits: number;
}

// ASCII digits only (\d would be ASCII in JS too, but be explicit); no sign, no exponent,
// no leading zeros, no bare or trailing point.
const DECIMAL = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/**
 * The exact set of strings `decimalString(precision)` accepts, as one ECMA-262 regular expression
 * (no lookaround, so schema-driven generators can use it): a positive decimal with at most
 * `intDigits` digits before the point and `fracDigits` after, no leading zeros. The OpenAPI
 * document states it; decimal.test.ts checks it agrees with the schema.
 */
export function decimalPattern({ intDigits, fracDigits }: DecimalPrecision): string {
  if (!Number.isInteger(intDigits) || intDigits < 1 || !Number.isInteger(fracDigits)) {
    throw new RangeError('a decimal needs at least one digit before the point');
  }
  const frac = fracDigits > 0 ? `(?:\\.[0-9]{1,${fracDigits}})?` : '';
  const positiveInt = `[1-9][0-9]{0,${intDigits - 1}}${frac}`;
  // 0.x: some zeros, then the first non-zero digit at position k + 1, then the rest.
  const below1 = Array.from(
    { length: fracDigits },
    (_, k) => `${'0'.repeat(k)}[1-9][0-9]{0,${fracDigits - k - 1}}`,
  );
  return below1.length > 0
    ? `^(?:${positiveInt}|0\\.(?:${below1.join('|')}))$`
    : `^${positiveInt}$`;
}

export function decimalString(precision: DecimalPrecision) {
  const maxLen = precision.intDigits + 1 + precision.fracDigits;
  const pattern = decimalPattern(precision);
  return z
    .string({
      error: (iss) =>
        iss.input === undefined ? 'required' : 'must be a decimal string, e.g. "0.015"',
    })
    .superRefine((s, ctx) => {
      if (s.length === 0)
        return void ctx.addIssue({ code: 'custom', message: 'must not be empty' });
      if (s.length > maxLen) {
        return void ctx.addIssue({ code: 'custom', message: `longer than ${maxLen} characters` });
      }
      if (!DECIMAL.test(s)) {
        return void ctx.addIssue({
          code: 'custom',
          message:
            'must be a plain positive decimal (digits 0-9, optional ".", no sign, exponent or leading zeros)',
        });
      }
      const [int = '', frac = ''] = s.split('.');
      if (int.length > precision.intDigits) {
        ctx.addIssue({
          code: 'custom',
          message: `more than ${precision.intDigits} digits before the point`,
        });
      }
      if (frac.length > precision.fracDigits) {
        ctx.addIssue({
          code: 'custom',
          message: `more than ${precision.fracDigits} digits after the point`,
        });
      }
      if (!/[1-9]/.test(s)) ctx.addIssue({ code: 'custom', message: 'must be greater than zero' });
    })
    .meta({
      // What the checks above enforce, for JSON Schema / OpenAPI (their messages stay precise).
      pattern,
      minLength: 1,
      maxLength: maxLen,
      description: `positive decimal string: up to ${precision.intDigits} digits, optionally "." and up to ${precision.fracDigits} more; no sign, exponent or leading zeros`,
    });
}

/** Parses a validated decimal string into an exact scaled integer. */
export function toScaled(value: string, scale: number): bigint {
  const [int = '0', frac = ''] = value.split('.');
  if (frac.length > scale)
    throw new CountersignError(
      'REQUEST_INVALID',
      `${value.slice(0, 40)} has more than ${scale} fractional digits`,
    );
  return BigInt(int + frac.padEnd(scale, '0'));
}

/** Formats a scaled integer back into a canonical decimal string (no trailing zeros). */
export function fromScaled(value: bigint, scale: number): string {
  const neg = value < 0n;
  const digits = (neg ? -value : value).toString().padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale).replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

/** Exact product of two decimal strings, as a decimal string. */
export function multiplyDecimals(a: string, b: string): string {
  const fa = (a.split('.')[1] ?? '').length;
  const fb = (b.split('.')[1] ?? '').length;
  return fromScaled(toScaled(a, fa) * toScaled(b, fb), fa + fb);
}

/** Compares two non-negative decimal strings exactly: -1, 0 or 1. */
export function compareDecimals(a: string, b: string): -1 | 0 | 1 {
  const scale = Math.max((a.split('.')[1] ?? '').length, (b.split('.')[1] ?? '').length);
  const x = toScaled(a, scale);
  const y = toScaled(b, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Exact sum of decimal strings. */
export function addDecimals(values: readonly string[]): string {
  const scale = Math.max(0, ...values.map((v) => (v.split('.')[1] ?? '').length));
  return fromScaled(
    values.reduce((sum, v) => sum + toScaled(v, scale), 0n),
    scale,
  );
}
