// The security suite of DESIGN.md §8: every attack on the verifier, each with its exact code.
import { createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { signJwt, toJwks } from '@countersign/signing';
import { createVerifier } from './verifier.ts';
import { staticKeys, combineKeys } from './key-resolvers.ts';
import {
  b64,
  b64json,
  clock,
  codeOf,
  fixture,
  header,
  NOW,
  requestClaims,
  requestToken,
  requestVerifier,
  signRaw,
  type Fixture,
} from './testing/fixtures.ts';

// Every attack on both paths: 'inline' finishes a token synchronously when its key is loaded,
// 'threadpool' always takes the async path.
describe.each(['inline', 'threadpool'] as const)('cryptoMode %s', (cryptoMode) => {
  let rs: Fixture, ps: Fixture, es: Fixture, es384: Fixture, outsider: Fixture;
  let verifier: ReturnType<typeof requestVerifier>;
  const claimsText = () => JSON.stringify(requestClaims());

  beforeAll(async () => {
    [rs, ps, es, es384, outsider] = await Promise.all([
      fixture('RS256'),
      fixture('PS256'),
      fixture('ES256'),
      fixture('ES384'),
      fixture('ES256'),
    ]);
    verifier = requestVerifier([rs.signer, ps.signer, es.signer, es384.signer], { cryptoMode });
  });

  const P256_N = 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551';
  const P384_N =
    'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973';

  describe('baseline', () => {
    it('accepts a well-formed token of every alg', async () => {
      for (const f of [rs, ps, es, es384]) {
        const v = await verifier.verify(await requestToken(f.signer));
        expect(v.header).toEqual({ alg: f.alg, kid: f.signer.kid, typ: 'txn+jwt' });
      }
    });
  });

  describe('algorithm attacks', () => {
    it('alg none with an empty signature is MALFORMED, with any signature ALG_NOT_ALLOWED', async () => {
      const input = `${b64json({ alg: 'none', kid: es.signer.kid, typ: 'txn+jwt' })}.${b64(claimsText())}`;
      expect(await codeOf(verifier.verify(`${input}.`))).toBe('MALFORMED');
      expect(await codeOf(verifier.verify(`${input}.AAAA`))).toBe('ALG_NOT_ALLOWED');
      for (const alg of ['None', 'NONE', '', null, 7]) {
        const h = b64json({ alg, kid: es.signer.kid, typ: 'txn+jwt' });
        expect(await codeOf(verifier.verify(`${h}.${b64(claimsText())}.AAAA`))).toBe(
          'ALG_NOT_ALLOWED',
        );
      }
    });

    it('HS256 signed with the public key bytes as the HMAC secret is ALG_NOT_ALLOWED', async () => {
      for (const f of [rs, es]) {
        for (const secret of [
          f.publicKey.export({ format: 'pem', type: 'spki' }),
          f.publicKey.export({ format: 'der', type: 'spki' }),
          JSON.stringify(f.signer.publicJwk),
        ]) {
          for (const alg of ['HS256', 'HS384', 'HS512']) {
            const input = `${b64json({ alg, kid: f.signer.kid, typ: 'txn+jwt' })}.${b64(claimsText())}`;
            const mac = createHmac(`sha${alg.slice(2)}`, secret)
              .update(input)
              .digest();
            expect(await codeOf(verifier.verify(`${input}.${b64(mac)}`))).toBe('ALG_NOT_ALLOWED');
          }
        }
      }
    });

    it('RS <-> PS <-> ES swaps are ALG_NOT_ALLOWED (each key is pinned to one alg)', async () => {
      // An RS256 key used with PS256 (a valid PSS signature by the same RSA key) and vice versa.
      const psWithRsKey = signRaw(rs, 'PS256', header(rs, { alg: 'PS256' }), claimsText());
      expect(await codeOf(verifier.verify(psWithRsKey))).toBe('ALG_NOT_ALLOWED');
      const rsWithPsKey = signRaw(ps, 'RS256', header(ps, { alg: 'RS256' }), claimsText());
      expect(await codeOf(verifier.verify(rsWithPsKey))).toBe('ALG_NOT_ALLOWED');
      // ES header naming an RSA kid, RS header naming an EC kid, ES384 naming a P-256 kid.
      const esOnRsKid = signRaw(es, 'ES256', header(rs, { alg: 'ES256' }), claimsText());
      expect(await codeOf(verifier.verify(esOnRsKid))).toBe('ALG_NOT_ALLOWED');
      const rsOnEsKid = signRaw(rs, 'RS256', header(es, { alg: 'RS256' }), claimsText());
      expect(await codeOf(verifier.verify(rsOnEsKid))).toBe('ALG_NOT_ALLOWED');
      const es384OnEs256Kid = signRaw(es384, 'ES384', header(es, { alg: 'ES384' }), claimsText());
      expect(await codeOf(verifier.verify(es384OnEs256Kid))).toBe('ALG_NOT_ALLOWED');
    });

    it('an alg outside the verifier allow-list is ALG_NOT_ALLOWED', async () => {
      const esOnly = requestVerifier([rs.signer, es.signer], { algorithms: ['ES256'], cryptoMode });
      expect(await codeOf(esOnly.verify(await requestToken(rs.signer)))).toBe('ALG_NOT_ALLOWED');
      await expect(esOnly.verify(await requestToken(es.signer))).resolves.toBeDefined();
    });
  });

  describe('key attacks', () => {
    it('an unknown kid is UNKNOWN_KID; a missing or non-string kid too', async () => {
      expect(await codeOf(verifier.verify(await requestToken(outsider.signer)))).toBe(
        'UNKNOWN_KID',
      );
      for (const kid of [undefined, 42, '', null]) {
        const t = signRaw(
          es,
          'ES256',
          JSON.stringify({ alg: 'ES256', kid, typ: 'txn+jwt' }),
          claimsText(),
        );
        expect(await codeOf(verifier.verify(t))).toBe('UNKNOWN_KID');
      }
    });

    it('a foreign key claiming a trusted kid is BAD_SIGNATURE', async () => {
      const t = signRaw(outsider, 'ES256', header(es), claimsText());
      expect(await codeOf(verifier.verify(t))).toBe('BAD_SIGNATURE');
    });

    it('a key bound to another issuer is ISSUER_NOT_TRUSTED, even if that issuer is trusted', async () => {
      const v = createVerifier({
        keys: combineKeys(
          staticKeys(toJwks([es.signer]), { issuer: 'req-1' }),
          staticKeys(toJwks([rs.signer]), { issuer: 'req-2' }),
        ),
        issuers: ['req-1', 'req-2'],
        audience: 'gw-1',
        typ: 'txn+jwt',
        clock,
        cryptoMode,
      });
      await expect(v.verify(await requestToken(es.signer))).resolves.toBeDefined();
      // rs's key belongs to req-2 but signs a token claiming to be req-1.
      const e = await v.verify(await requestToken(rs.signer)).catch((err: unknown) => err);
      expect(e).toMatchObject({ code: 'ISSUER_NOT_TRUSTED', details: { claim: 'iss' } });
      await expect(
        v.verify(await requestToken(rs.signer, { iss: 'req-2' })),
      ).resolves.toBeDefined();
    });

    for (const name of [
      'jku',
      'jwk',
      'x5u',
      'x5c',
      'x5t',
      'x5t#S256',
      'crit',
      'b64',
      'zip',
      'cty',
      'epk',
      'nonce',
      'x-custom',
    ]) {
      it(`header parameter ${name} is UNSUPPORTED_HEADER`, async () => {
        const values: Record<string, unknown> = {
          jku: 'https://attacker.example/jwks.json',
          jwk: outsider.signer.publicJwk,
          x5c: ['MIIB'],
          crit: ['b64'],
          b64: false,
          zip: 'DEF',
        };
        const t = signRaw(es, 'ES256', header(es, { [name]: values[name] ?? 'x' }), claimsText());
        expect(await codeOf(verifier.verify(t))).toBe('UNSUPPORTED_HEADER');
      });
    }

    it('an embedded jwk of the attacker with its own kid is still UNSUPPORTED_HEADER', async () => {
      const h = header(outsider, { jwk: outsider.signer.publicJwk });
      expect(await codeOf(verifier.verify(signRaw(outsider, 'ES256', h, claimsText())))).toBe(
        'UNSUPPORTED_HEADER',
      );
    });
  });

  describe('invalid ECDSA signatures', () => {
    const cases = (n: string, size: number) => {
      const zero = '00'.repeat(size);
      const one = '00'.repeat(size - 1) + '01';
      return [
        ['r = s = 0', zero + zero],
        ['r = 0', zero + one],
        ['s = 0', one + zero],
        ['r = n', n + one],
        ['s = n', one + n],
        ['r = s = n', n + n],
        ['r = s = 0xff..ff', 'ff'.repeat(size * 2)],
      ] as const;
    };
    it('r=s=0, r or s = n and other out-of-range values are BAD_SIGNATURE (P-256 and P-384)', async () => {
      for (const [f, n, size] of [
        [es, P256_N, 32],
        [es384, P384_N, 48],
      ] as const) {
        const good = await requestToken(f.signer);
        const input = good.slice(0, good.lastIndexOf('.'));
        for (const [name, sigHex] of cases(n, size)) {
          const code = await codeOf(verifier.verify(`${input}.${b64(Buffer.from(sigHex, 'hex'))}`));
          expect(`${name}: ${code}`).toBe(`${name}: BAD_SIGNATURE`);
        }
      }
    });

    it('a DER-encoded ECDSA signature (not P1363) is BAD_SIGNATURE', async () => {
      const good = await requestToken(es.signer);
      const input = good.slice(0, good.lastIndexOf('.'));
      const { sign } = await import('node:crypto');
      const der = sign('sha256', Buffer.from(input), es.privateKey); // DER by default
      expect(await codeOf(verifier.verify(`${input}.${b64(der)}`))).toBe('BAD_SIGNATURE');
    });
  });

  describe('tampering', () => {
    it('truncated and extended signatures are BAD_SIGNATURE', async () => {
      for (const f of [rs, ps, es, es384]) {
        const good = await requestToken(f.signer);
        const [h, p, s] = good.split('.') as [string, string, string];
        const sig = Buffer.from(s, 'base64url');
        for (const bad of [
          sig.subarray(0, sig.length - 1),
          Buffer.concat([sig, Buffer.from([0])]),
          Buffer.concat([Buffer.from([0]), sig]),
          sig.subarray(0, sig.length / 2),
        ]) {
          expect(await codeOf(verifier.verify(`${h}.${p}.${b64(bad)}`))).toBe('BAD_SIGNATURE');
        }
      }
    });

    it('a tampered header, payload or signature is BAD_SIGNATURE', async () => {
      for (const f of [rs, ps, es, es384]) {
        const good = await requestToken(f.signer);
        const [h, p, s] = good.split('.') as [string, string, string];
        // Same header fields, different bytes (order changed): the signature covers the bytes.
        const reordered = b64json({ typ: 'txn+jwt', kid: f.signer.kid, alg: f.alg });
        expect(await codeOf(verifier.verify(`${reordered}.${p}.${s}`))).toBe('BAD_SIGNATURE');
        const more = b64(
          JSON.stringify(requestClaims({ txn: { ...requestClaims().txn, quantity: '150' } })),
        );
        expect(await codeOf(verifier.verify(`${h}.${more}.${s}`))).toBe('BAD_SIGNATURE');
        const sig = Buffer.from(s, 'base64url');
        sig[sig.length >> 1]! ^= 0x01;
        expect(await codeOf(verifier.verify(`${h}.${p}.${b64(sig)}`))).toBe('BAD_SIGNATURE');
      }
    });
  });

  describe('encoding', () => {
    it('non-canonical base64url is MALFORMED', async () => {
      const good = await requestToken(es.signer);
      const [h, p, s] = good.split('.') as [string, string, string];
      const padded = (x: string) => x + '='.repeat((4 - (x.length % 4)) % 4 || 4);
      const std = (x: string) => Buffer.from(x, 'base64url').toString('base64');
      // A different last character with the same decoded bytes (non-zero padding bits).
      const lastBits = (x: string) => {
        const rem = x.length % 4;
        if (rem === 0) return undefined;
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const v = alphabet.indexOf(x.at(-1)!);
        return x.slice(0, -1) + alphabet[v | 1];
      };
      const variants = [
        `${padded(h)}.${p}.${s}`,
        `${h}.${padded(p)}.${s}`,
        `${h}.${p}.${padded(s)}`,
        `${h}.${std(p)}.${s}`,
        `${h}.${p}.${std(s)}`,
        `${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`,
        `${h}.${p}.${s.slice(0, 10)}\n${s.slice(10)}`,
        ` ${good}`,
        `${good}\n`,
        lastBits(p) && `${h}.${lastBits(p)}.${s}`,
        lastBits(h) && `${lastBits(h)}.${p}.${s}`,
        // a segment length that no byte string encodes to (≡ 1 mod 4)
        `${h}.${p}${'A'.repeat((5 - (p.length % 4)) % 4)}.${s}`,
      ].filter((v): v is string => typeof v === 'string' && v !== good);
      expect(variants.length).toBeGreaterThan(9);
      for (const t of variants) {
        expect(`${JSON.stringify(t.slice(0, 12))}: ${await codeOf(verifier.verify(t))}`).toMatch(
          /: MALFORMED$/,
        );
      }
    });

    it('wrong segment counts, empty segments and non-strings are MALFORMED', async () => {
      const good = await requestToken(es.signer);
      const [h, p, s] = good.split('.') as [string, string, string];
      for (const t of [
        '',
        '.',
        '..',
        `${h}.${p}`,
        `${h}.${p}.${s}.${s}`,
        `.${p}.${s}`,
        `${h}..${s}`,
        `${h}.${p}.`,
        `${h}.${p}.${s}.`,
      ]) {
        expect(await codeOf(verifier.verify(t))).toBe('MALFORMED');
      }
      const notStrings: unknown[] = [undefined, null, 42, {}, ['a', 'b', 'c'], Buffer.from(good)];
      for (const t of notStrings) {
        expect(await codeOf(verifier.verify(t as string))).toBe('MALFORMED');
      }
    });

    it('a header that is not JSON, has duplicate or __proto__ members is MALFORMED', async () => {
      const kid = es.signer.kid;
      for (const h of [
        'not json',
        '[]',
        'null',
        `{"alg":"ES256","kid":"${kid}","typ":"txn+jwt","alg":"ES256"}`,
        `{"alg":"ES256","kid":"${kid}","typ":"txn+jwt","__proto__":{"alg":"none"}}`,
      ]) {
        expect(await codeOf(verifier.verify(signRaw(es, 'ES256', h, claimsText())))).toBe(
          'MALFORMED',
        );
      }
      const invalidUtf8 = `${b64(Buffer.from([0x7b, 0xff, 0x7d]))}.${b64(claimsText())}.AAAA`;
      expect(await codeOf(verifier.verify(invalidUtf8))).toBe('MALFORMED');
    });

    it('an oversized token is TOKEN_TOO_LARGE before anything else is looked at', async () => {
      const big = 'A'.repeat(8193);
      expect(await codeOf(verifier.verify(big))).toBe('TOKEN_TOO_LARGE');
      const small = requestVerifier([es.signer], { maxTokenBytes: 300, cryptoMode });
      expect(await codeOf(small.verify(await requestToken(es.signer)))).toBe('TOKEN_TOO_LARGE');
    });

    it('a wrong or missing typ is TYP_MISMATCH', async () => {
      const receipt = await signJwt(es.signer, requestClaims(), { typ: 'txn-receipt+jwt' });
      expect(await codeOf(verifier.verify(receipt))).toBe('TYP_MISMATCH');
      for (const typ of [undefined, 'JWT', 'TXN+JWT', 'application/txn+jwt']) {
        const t = signRaw(
          es,
          'ES256',
          JSON.stringify({ alg: 'ES256', kid: es.signer.kid, typ }),
          claimsText(),
        );
        expect(await codeOf(verifier.verify(t))).toBe('TYP_MISMATCH');
      }
    });
  });

  describe('claims', () => {
    it('duplicate claims and __proto__ in the payload are CLAIMS_INVALID (after the signature)', async () => {
      const text = claimsText();
      for (const payload of [
        text.replace('"aud":"gw-1"', '"aud":"gw-1","aud":"gw-2"'),
        text.replace('"iss":"req-1"', '"iss":"req-2","iss":"req-1"'),
        text.replace('"side":"buy"', '"side":"buy","side":"sell"'),
        text.replace('{"iss"', '{"__proto__":{"admin":true},"iss"'),
      ]) {
        expect(payload).not.toBe(text);
        expect(await codeOf(verifier.verify(signRaw(es, 'ES256', header(es), payload)))).toBe(
          'CLAIMS_INVALID',
        );
        // The same payload with a bad signature fails at the signature first.
        expect(await codeOf(verifier.verify(signRaw(outsider, 'ES256', header(es), payload)))).toBe(
          'BAD_SIGNATURE',
        );
      }
    });

    it('a payload that is not a JSON object, or not UTF-8, is CLAIMS_INVALID', async () => {
      for (const payload of ['[]', '"x"', 'null', '{', '{"iss":"req-1"} trailing']) {
        expect(await codeOf(verifier.verify(signRaw(es, 'ES256', header(es), payload)))).toBe(
          'CLAIMS_INVALID',
        );
      }
    });

    it('schema failures name the claim', async () => {
      const t = await requestToken(es.signer, { txn: { ...requestClaims().txn, extra: 1 } });
      const e = await verifier.verify(t).catch((err: unknown) => err);
      expect(e).toMatchObject({ code: 'CLAIMS_INVALID', details: { claim: 'txn' } });
      const q = await requestToken(es.signer, { txn: { ...requestClaims().txn, quantity: 0.015 } });
      expect(await verifier.verify(q).catch((err: unknown) => err)).toMatchObject({
        code: 'CLAIMS_INVALID',
        details: { claim: 'txn.quantity' },
      });
    });

    it('an untrusted iss is ISSUER_NOT_TRUSTED and a wrong aud AUDIENCE_MISMATCH', async () => {
      expect(await codeOf(verifier.verify(await requestToken(es.signer, { iss: 'evil' })))).toBe(
        'ISSUER_NOT_TRUSTED',
      );
      expect(await codeOf(verifier.verify(await requestToken(es.signer, { aud: 'gw-2' })))).toBe(
        'AUDIENCE_MISMATCH',
      );
    });
  });

  describe('time', () => {
    const at = (o: Record<string, number>) => requestToken(es.signer, o);
    it('expired, not yet valid, future iat and too long-lived tokens get their own codes', async () => {
      expect(
        await codeOf(verifier.verify(await at({ iat: NOW - 200, nbf: NOW - 200, exp: NOW - 30 }))),
      ).toBe('EXPIRED');
      expect(
        await codeOf(verifier.verify(await at({ iat: NOW, nbf: NOW + 31, exp: NOW + 60 }))),
      ).toBe('NOT_YET_VALID');
      expect(
        await codeOf(verifier.verify(await at({ iat: NOW + 31, nbf: NOW, exp: NOW + 60 }))),
      ).toBe('NOT_YET_VALID');
      expect(await codeOf(verifier.verify(await at({ iat: NOW, nbf: NOW, exp: NOW + 301 })))).toBe(
        'LIFETIME_TOO_LONG',
      );
    });

    it('skew is honoured at the edges (default 30 s)', async () => {
      await expect(
        verifier.verify(await at({ iat: NOW - 200, nbf: NOW - 200, exp: NOW - 29 })),
      ).resolves.toBeDefined();
      await expect(
        verifier.verify(await at({ iat: NOW + 30, nbf: NOW + 30, exp: NOW + 90 })),
      ).resolves.toBeDefined();
      await expect(
        verifier.verify(await at({ iat: NOW, nbf: NOW, exp: NOW + 300 })),
      ).resolves.toBeDefined();
      const strict = requestVerifier([es.signer], {
        clockSkewSec: 0,
        maxLifetimeSec: 60,
        cryptoMode,
      });
      expect(await codeOf(strict.verify(await at({ iat: NOW + 1, nbf: NOW, exp: NOW + 60 })))).toBe(
        'NOT_YET_VALID',
      );
      expect(await codeOf(strict.verify(await at({ iat: NOW, nbf: NOW, exp: NOW + 61 })))).toBe(
        'LIFETIME_TOO_LONG',
      );
      expect(
        await codeOf(strict.verify(await at({ iat: NOW - 60, nbf: NOW - 60, exp: NOW }))),
      ).toBe('EXPIRED');
    });

    it('`at` verifies as of another time (audit)', async () => {
      const old = await at({ iat: NOW - 3600, nbf: NOW - 3600, exp: NOW - 3540 });
      expect(await codeOf(verifier.verify(old))).toBe('EXPIRED');
      await expect(verifier.verify(old, { at: (NOW - 3590) * 1000 })).resolves.toBeDefined();
    });
  });

  describe('error shape', () => {
    it('messages never contain the token or its payload', async () => {
      const t = await requestToken(outsider.signer);
      const e = (await verifier.verify(t).catch((err: unknown) => err)) as Error;
      expect(e.name).toBe('VerificationError');
      expect(e.message).not.toContain(t.split('.')[1]!.slice(0, 20));
    });
  });
});
