// Strict conversion between DER ECDSA signatures (what KMS returns) and JOSE's fixed-size r||s.
// Strict means DER, not BER: short-form lengths only (our signatures never need long form),
// minimal integers, no negative numbers, no trailing bytes, 0 < r, s < n.
import { derInvalid } from './errors.ts';

export type EcAlgorithm = 'ES256' | 'ES384';

interface Curve {
  readonly size: number;
  /** The group order n, big-endian, `size` bytes. */
  readonly order: Uint8Array;
}

const CURVES: Readonly<Record<EcAlgorithm, Curve>> = {
  ES256: {
    size: 32,
    order: Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex'),
  },
  ES384: {
    size: 48,
    order: Buffer.from(
      'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
      'hex',
    ),
  },
};

function curveOf(alg: EcAlgorithm): Curve {
  const curve = (CURVES as Partial<Record<string, Curve>>)[alg];
  if (!curve) throw derInvalid(`unsupported alg ${String(alg)}`);
  return curve;
}

/** Big-endian unsigned compare of equal-length byte strings. */
function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Checks 0 < v < n for a `size`-byte big-endian value. */
function checkRange(v: Uint8Array, curve: Curve, name: string): void {
  if (v.every((b) => b === 0)) throw derInvalid(`${name} is zero`);
  if (compare(v, curve.order) >= 0) throw derInvalid(`${name} is not below the curve order`);
}

/** Reads one DER INTEGER at `pos`; returns its value left-padded to `size` and the next offset. */
function readInteger(
  der: Uint8Array,
  pos: number,
  end: number,
  curve: Curve,
  name: string,
): { value: Uint8Array; next: number } {
  if (pos + 2 > end) throw derInvalid(`${name}: truncated`);
  if (der[pos] !== 0x02) throw derInvalid(`${name}: expected INTEGER tag 0x02`);
  const len = der[pos + 1]!;
  if (len & 0x80) throw derInvalid(`${name}: long-form length where short form fits`);
  if (len === 0) throw derInvalid(`${name}: empty integer`);
  const start = pos + 2;
  const next = start + len;
  if (next > end) throw derInvalid(`${name}: length exceeds the sequence`);
  const first = der[start]!;
  if (first & 0x80) throw derInvalid(`${name}: negative integer`);
  let body = der.subarray(start, next);
  if (first === 0) {
    if (len === 1) throw derInvalid(`${name} is zero`);
    if ((der[start + 1]! & 0x80) === 0) throw derInvalid(`${name}: non-minimal leading zero`);
    body = body.subarray(1);
  }
  if (body.length > curve.size) throw derInvalid(`${name}: longer than ${curve.size} bytes`);
  const value = new Uint8Array(curve.size);
  value.set(body, curve.size - body.length);
  checkRange(value, curve, name);
  return { value, next };
}

/** DER `SEQUENCE { r INTEGER, s INTEGER }` → JOSE r||s (each left-padded to the curve size). */
export function derToJose(der: Uint8Array, alg: EcAlgorithm): Uint8Array {
  const curve = curveOf(alg);
  if (!(der instanceof Uint8Array)) throw derInvalid('not a byte array');
  if (der.length < 8) throw derInvalid('too short');
  if (der[0] !== 0x30) throw derInvalid('expected SEQUENCE tag 0x30');
  const len = der[1]!;
  // The longest valid signature (P-384: 2 × (2 + 49) = 102 content bytes) fits the short form.
  if (len & 0x80) throw derInvalid('long-form or indefinite sequence length');
  if (2 + len !== der.length) {
    throw derInvalid(2 + len < der.length ? 'trailing bytes' : 'sequence length exceeds input');
  }
  const end = der.length;
  const r = readInteger(der, 2, end, curve, 'r');
  const s = readInteger(der, r.next, end, curve, 's');
  if (s.next !== end) throw derInvalid('trailing bytes inside the sequence');
  const out = new Uint8Array(curve.size * 2);
  out.set(r.value, 0);
  out.set(s.value, curve.size);
  return out;
}

function encodeInteger(v: Uint8Array): Uint8Array {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = v.subarray(i);
  const pad = body[0]! & 0x80 ? 1 : 0;
  const out = new Uint8Array(2 + pad + body.length);
  out[0] = 0x02;
  out[1] = pad + body.length;
  out.set(body, 2 + pad);
  return out;
}

/** JOSE r||s → minimal DER. Rejects a wrong size and r or s outside [1, n-1]. */
export function joseToDer(sig: Uint8Array, alg: EcAlgorithm): Uint8Array {
  const curve = curveOf(alg);
  if (!(sig instanceof Uint8Array)) throw derInvalid('not a byte array');
  if (sig.length !== curve.size * 2) {
    throw derInvalid(`expected ${curve.size * 2} bytes for ${alg}, got ${sig.length}`);
  }
  const r = sig.subarray(0, curve.size);
  const s = sig.subarray(curve.size);
  checkRange(r, curve, 'r');
  checkRange(s, curve, 's');
  const er = encodeInteger(r);
  const es = encodeInteger(s);
  const out = new Uint8Array(2 + er.length + es.length);
  out[0] = 0x30;
  out[1] = er.length + es.length;
  out.set(er, 2);
  out.set(es, 2 + er.length);
  return out;
}
