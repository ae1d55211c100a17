import { describe, expect, it } from 'vitest';
import { decodeUnverified } from './decode-unverified.ts';

const seg = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const raw = (text: string) => Buffer.from(text).toString('base64url');

describe('decodeUnverified', () => {
  it('returns the payload object of a compact JWS', () => {
    expect(decodeUnverified(`${seg({ alg: 'ES256' })}.${seg({ jti: 'a', seq: 3 })}.sig`)).toEqual({
      jti: 'a',
      seq: 3,
    });
  });

  it('drops __proto__ members at every depth', () => {
    const out = decodeUnverified(`h.${raw('{"__proto__":{"x":1},"a":{"__proto__":{"y":2}}}')}.s`);
    expect(out).toEqual({ a: {} });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { x?: unknown }).x).toBeUndefined();
  });

  it('is undefined for anything that is not a JSON object payload', () => {
    for (const token of ['', 'a', 'a.b', `h.${raw('[1]')}.s`, `h.${raw('null')}.s`, 'h.%%%.s']) {
      expect(decodeUnverified(token)).toBeUndefined();
    }
  });

  it('returns a batch item’s claims without its envelope', () => {
    const item = '{"__proto__":{"x":1},"batch":"h.p.s","index":0,"jti":"a","path":[],"seq":3}';
    expect(decodeUnverified(item)).toEqual({ jti: 'a', seq: 3 });
    expect(decodeUnverified('{"jti":')).toBeUndefined();
    expect(decodeUnverified('{}x')).toBeUndefined();
  });
});
