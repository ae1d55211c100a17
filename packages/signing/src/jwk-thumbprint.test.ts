// Our RFC 7638 thumbprint (a few lines on node:crypto) against the RFC's own example and, as a
// differential test, against jose (the reference implementation, a test dependency only).
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { jwkThumbprint, type ThumbprintMembers } from './jwk.ts';

describe('jwkThumbprint (RFC 7638)', () => {
  it('matches the RFC 7638 section 3.1 example', () => {
    const rfcKey: ThumbprintMembers = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
    };
    expect(jwkThumbprint(rfcKey)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('agrees with jose on real RSA, P-256 and P-384 keys', async () => {
    const keys = [
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
      generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 3 }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
    ];
    for (const key of keys) {
      const jwk = key.export({ format: 'jwk' }) as unknown as ThumbprintMembers;
      expect(jwkThumbprint(jwk)).toBe(await calculateJwkThumbprint(jwk, 'sha256'));
    }
  });

  it('agrees with jose on any member values, and ignores members RFC 7638 leaves out', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const b64u = fc.string({ unit: fc.constantFrom(...alphabet), minLength: 1, maxLength: 600 });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ kty: fc.constant('RSA' as const), n: b64u, e: b64u }),
          fc.record({
            kty: fc.constant('EC' as const),
            crv: fc.constantFrom('P-256', 'P-384'),
            x: b64u,
            y: b64u,
          }),
        ),
        async (jwk) => {
          const extra = { ...jwk, kid: 'ignored', alg: 'ES256', use: 'sig' };
          const ours = jwkThumbprint(extra);
          expect(ours).toBe(await calculateJwkThumbprint(jwk, 'sha256'));
          expect(ours).toMatch(/^[A-Za-z0-9_-]{43}$/);
        },
      ),
      { numRuns: 300 },
    );
  });
});
