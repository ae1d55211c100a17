import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derToJose, joseToDer, type EcAlgorithm } from './der.ts';

const N256 = 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551';
const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function expectDerInvalid(fn: () => unknown, reason: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect((err as { code?: string }).code).toBe('DER_INVALID');
    expect((err as Error).message).toMatch(reason);
    return;
  }
  throw new Error('expected DER_INVALID');
}

// A valid DER signature: r = 1 .. (one byte), s = 0x80.. (needs a leading zero).
const R1 = '020101';
const S80 = `0221 00${'80'.padEnd(64, '0')}`;
const seq = (...parts: string[]) => {
  const body = parts.join('').replace(/\s+/g, '');
  return `30${(body.length / 2).toString(16).padStart(2, '0')}${body}`;
};

describe('derToJose strictness', () => {
  it('accepts a minimal DER signature and left-pads short r', () => {
    const jose = derToJose(hex(seq(R1, S80)), 'ES256');
    expect(jose.length).toBe(64);
    expect(toHex(jose.subarray(0, 32))).toBe('00'.repeat(31) + '01');
    expect(toHex(jose.subarray(32))).toBe('80'.padEnd(64, '0'));
    expect(toHex(joseToDer(jose, 'ES256'))).toBe(seq(R1, S80).replace(/\s+/g, ''));
  });

  const cases: [string, string, RegExp][] = [
    ['wrong outer tag', seq(R1, S80).replace(/^30/, '31'), /SEQUENCE/],
    ['long-form sequence length', `3081${seq(R1, S80).slice(2)}`, /long-form/],
    ['indefinite length', `3080${seq(R1, S80).slice(4)}0000`, /long-form or indefinite/],
    ['trailing bytes after the sequence', `${seq(R1, S80)}00`, /trailing/],
    [
      'sequence length beyond input',
      seq(R1, S80).replace(/^30(..)/, (_m, l: string) => `30${(parseInt(l, 16) + 1).toString(16)}`),
      /exceeds/,
    ],
    ['trailing bytes inside the sequence', seq(R1, S80, '0500'), /trailing bytes inside/],
    ['wrong integer tag', seq('030101', S80), /INTEGER/],
    ['long-form integer length', seq('02810101', S80), /long-form/],
    ['empty integer', seq('0200', S80), /empty/],
    ['negative r', seq('0201ff', S80), /negative/],
    ['missing leading zero (s looks negative)', seq(R1, `0220${'80'.padEnd(64, '0')}`), /negative/],
    ['extra leading zero', seq('02020001', S80), /non-minimal/],
    ['r = 0', seq('020100', S80), /r is zero/],
    ['s = 0', seq(R1, '020100'), /s is zero/],
    ['r = n', seq(`022100${N256}`, S80), /curve order/],
    ['s > n', seq(R1, `0221 00${'ff'.repeat(32)}`), /curve order/],
    ['r too long', seq(`0222 00ff${'00'.repeat(32)}`, S80), /longer than 32/],
    ['too short', '30050201010201', /too short/],
    ['truncated s', seq(R1, '0221 0080'), /length exceeds/],
  ];
  for (const [name, der, reason] of cases) {
    it(`rejects ${name}`, () => expectDerInvalid(() => derToJose(hex(der), 'ES256'), reason));
  }

  it('rejects a non-byte input and an unknown alg', () => {
    expectDerInvalid(() => derToJose('3006' as unknown as Uint8Array, 'ES256'), /byte array/);
    expectDerInvalid(() => derToJose(hex(seq(R1, S80)), 'ES512' as EcAlgorithm), /unsupported alg/);
  });
});

describe('joseToDer', () => {
  it('rejects wrong sizes, zero and out-of-range components', () => {
    expectDerInvalid(() => joseToDer(new Uint8Array(63), 'ES256'), /expected 64 bytes/);
    expectDerInvalid(() => joseToDer(new Uint8Array(64), 'ES384'), /expected 96 bytes/);
    expectDerInvalid(() => joseToDer(new Uint8Array(64), 'ES256'), /r is zero/);
    const rn = new Uint8Array(64);
    rn.set(hex(N256), 0);
    rn[63] = 1;
    expectDerInvalid(() => joseToDer(rn, 'ES256'), /r is not below the curve order/);
  });

  for (const [alg, curve, hash] of [
    ['ES256', 'P-256', 'sha256'],
    ['ES384', 'P-384', 'sha384'],
  ] as const) {
    it(`round-trips node's own ${alg} signatures both ways`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      for (let i = 0; i < 200; i++) {
        const msg = Buffer.from(`message ${i}`);
        const der = sign(hash, msg, privateKey);
        const jose = derToJose(der, alg);
        expect(verify(hash, msg, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose)).toBe(true);
        expect(toHex(joseToDer(jose, alg))).toBe(toHex(der));
      }
    });
  }
});
