import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { SignJWT, importJWK, importPKCS8, jwtVerify } from 'jose';
import { z } from 'zod';
import { type RequestClaims, type ReceiptClaims } from '@countersign/contracts';
import { signJwt, toJwks } from '@countersign/signing';
import { createVerifier } from './verifier.ts';
import { isVerificationError, VerificationError } from './errors.ts';
import { staticKeys } from './key-resolvers.ts';
import {
  clock,
  codeOf,
  fixture,
  NOW,
  NOW_MS,
  receiptClaims,
  requestClaims,
  requestToken,
  requestVerifier,
  type Fixture,
} from './testing/fixtures.ts';

const ALGS = ['RS256', 'PS256', 'ES256', 'ES384'] as const;
let fixtures: Record<(typeof ALGS)[number], Fixture>;

beforeAll(async () => {
  const list = await Promise.all(ALGS.map((a) => fixture(a)));
  fixtures = Object.fromEntries(list.map((f) => [f.alg, f])) as typeof fixtures;
});

describe('round trip', () => {
  for (const alg of ALGS) {
    it(`${alg}: local signer → our verifier and jose jwtVerify accept`, async () => {
      const f = fixtures[alg];
      const token = await requestToken(f.signer);
      const ours = await requestVerifier([f.signer]).verify(token);
      expect(ours.claims).toEqual(requestClaims());
      expect(ours.key.kid).toBe(f.signer.kid);
      const jose = await jwtVerify(token, await importJWK(f.signer.publicJwk, alg), {
        algorithms: [alg],
        issuer: 'req-1',
        audience: 'gw-1',
        typ: 'txn+jwt',
        currentDate: new Date(NOW_MS),
      });
      expect(jose.payload).toEqual(requestClaims());
      expect(jose.protectedHeader).toEqual({ alg, kid: f.signer.kid, typ: 'txn+jwt' });
    });

    it(`${alg}: a token signed by jose is accepted by our verifier`, async () => {
      const f = fixtures[alg];
      const pem = f.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
      const token = await new SignJWT(requestClaims())
        .setProtectedHeader({ alg, kid: f.signer.kid, typ: 'txn+jwt' })
        .sign(await importPKCS8(pem, alg));
      const v = await requestVerifier([f.signer]).verify(token);
      expect(v.claims.txn.symbol).toBe('BTC-USD');
    });
  }

  it('the header is exactly {alg, kid, typ}', async () => {
    const f = fixtures.ES256;
    const token = await requestToken(f.signer);
    const header = Buffer.from(token.split('.')[0]!, 'base64url').toString();
    expect(header).toBe(JSON.stringify({ alg: 'ES256', kid: f.signer.kid, typ: 'txn+jwt' }));
  });
});

describe('token types', () => {
  it('verifies receipts (no exp: only the iat check) with the receipt schema by default', async () => {
    const f = fixtures.ES256;
    const receipt = receiptClaims();
    const token = await signJwt(f.signer, receipt, { typ: 'txn-receipt+jwt' });
    const v = createVerifier({
      keys: staticKeys(toJwks([f.signer])),
      issuers: ['gw-1'],
      audience: null,
      typ: 'txn-receipt+jwt',
      clock,
    });
    const out = await v.verify(token);
    expectTypeOf(out.claims).toEqualTypeOf<ReceiptClaims>();
    expect(out.claims.seq).toBe(1);
    // Old receipts stay valid (no exp) ...
    await expect(v.verify(token, { at: NOW_MS + 86_400_000 })).resolves.toBeDefined();
    // ... but one from the future is not.
    const future = await signJwt(
      f.signer,
      { ...receipt, iat: NOW + 60 },
      { typ: 'txn-receipt+jwt' },
    );
    expect(await codeOf(v.verify(future))).toBe('NOT_YET_VALID');
    // The refine of the receipt schema runs: EXECUTED with a reason is invalid.
    const bad = await signJwt(
      f.signer,
      { ...receipt, reason: 'EXPIRED' },
      { typ: 'txn-receipt+jwt' },
    );
    expect(await v.verify(bad).catch((e: unknown) => e)).toMatchObject({
      code: 'CLAIMS_INVALID',
      details: { claim: 'reason' },
    });
  });

  it('accepts a custom claims schema and infers its type', async () => {
    const f = fixtures.ES256;
    const Custom = z.object({ iss: z.string(), iat: z.number(), hello: z.literal('world') });
    const v = createVerifier({
      keys: staticKeys(toJwks([f.signer])),
      issuers: null,
      audience: null,
      typ: 'txn-checkpoint+jwt',
      claims: Custom,
      clock,
    });
    const token = await signJwt(
      f.signer,
      { iss: 'any', iat: NOW, hello: 'world' },
      { typ: 'txn-checkpoint+jwt' },
    );
    const out = await v.verify(token);
    expectTypeOf(out.claims).toEqualTypeOf<z.infer<typeof Custom>>();
    expect(out.claims.hello).toBe('world');
  });

  it('request verifiers are typed with RequestClaims', async () => {
    const v = requestVerifier([fixtures.ES256.signer]);
    const out = await v.verify(await requestToken(fixtures.ES256.signer));
    expectTypeOf(out.claims).toEqualTypeOf<RequestClaims>();
  });
});

describe('options', () => {
  it('issuers and audience can only be turned off explicitly (compile-time)', () => {
    const keys = staticKeys({ keys: [] });
    // @ts-expect-error issuers is required (null to turn the check off)
    expect(() => createVerifier({ keys, audience: null, typ: 'txn+jwt' })).toThrow(/issuers/);
    // @ts-expect-error audience is required (null to turn the check off)
    expect(() => createVerifier({ keys, issuers: null, typ: 'txn+jwt' })).toThrow(/audience/);
    // @ts-expect-error typ is required
    expect(() => createVerifier({ keys, issuers: null, audience: null })).toThrow(/typ/);
    expect(() =>
      createVerifier({ keys, issuers: null, audience: null, typ: 'txn+jwt' }),
    ).not.toThrow();
  });

  it('rejects out-of-range options at creation', () => {
    const keys = staticKeys({ keys: [] });
    const base = { keys, issuers: null, audience: null, typ: 'txn+jwt' } as const;
    expect(() => createVerifier({ ...base, clockSkewSec: 301 })).toThrow(/clockSkewSec/);
    expect(() => createVerifier({ ...base, clockSkewSec: -1 })).toThrow(/clockSkewSec/);
    expect(() => createVerifier({ ...base, maxLifetimeSec: 0 })).toThrow(/maxLifetimeSec/);
    expect(() => createVerifier({ ...base, algorithms: ['HS256' as 'RS256'] })).toThrow(/HS256/);
  });

  it('isVerificationError is structural and only true for verification errors', async () => {
    const e = await requestVerifier([fixtures.ES256.signer])
      .verify('x')
      .catch((err: unknown) => err);
    expect(isVerificationError(e)).toBe(true);
    expect(e).toBeInstanceOf(VerificationError);
    const lookalike = Object.assign(new Error('x'), {
      name: 'VerificationError',
      code: 'EXPIRED',
      details: {},
    });
    expect(isVerificationError(lookalike)).toBe(true);
    expect(
      isVerificationError(Object.assign(new Error('x'), { code: 'EXPIRED', details: {} })),
    ).toBe(false);
    expect(isVerificationError({ name: 'VerificationError', code: 'EXPIRED', details: {} })).toBe(
      false,
    );
    expect(
      isVerificationError(
        Object.assign(new Error('x'), { name: 'VerificationError', code: 'NOPE', details: {} }),
      ),
    ).toBe(false);
  });
});

describe('key loading failures', () => {
  it('are not VerificationErrors: KEY_UNAVAILABLE, so callers retry instead of rejecting', async () => {
    const f = fixtures.ES256;
    const token = await requestToken(f.signer);
    const broken = createVerifier({
      keys: { resolve: () => Promise.reject(new Error('disk on fire')) },
      issuers: ['req-1'],
      audience: 'gw-1',
      typ: 'txn+jwt',
      clock,
    });
    const e = await broken.verify(token).catch((err: unknown) => err);
    expect(e).toMatchObject({ code: 'KEY_UNAVAILABLE' });
    expect(isVerificationError(e)).toBe(false);
    // A malformed token still fails before any key is looked up.
    expect(await codeOf(broken.verify('a.b'))).toBe('MALFORMED');
  });
});

describe('crypto modes', () => {
  for (const cryptoMode of ['auto', 'inline', 'threadpool'] as const) {
    it(`${cryptoMode}: accepts good tokens and rejects bad signatures, serially and concurrently`, async () => {
      const f = fixtures.ES256;
      const v = requestVerifier([f.signer], { cryptoMode });
      const good = await requestToken(f.signer);
      const bad = `${good.slice(0, good.lastIndexOf('.'))}.${Buffer.alloc(64, 1).toString('base64url')}`;
      await expect(v.verify(good)).resolves.toBeDefined();
      expect(await codeOf(v.verify(bad))).toBe('BAD_SIGNATURE');
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) => v.verify(i % 2 ? good : bad)),
      );
      results.forEach((r, i) => {
        if (i % 2) expect(r.status).toBe('fulfilled');
        else expect(r).toMatchObject({ status: 'rejected', reason: { code: 'BAD_SIGNATURE' } });
      });
    });
  }
});
