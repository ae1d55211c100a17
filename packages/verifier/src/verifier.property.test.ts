// Property tests: (1) no input string makes verify throw anything but a VerificationError;
// (2) differential against jose: every token our verifier accepts, jose accepts too.
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { importJWK, jwtVerify } from 'jose';
import { isVerificationError } from './errors.ts';
import {
  fixture,
  NOW,
  NOW_MS,
  requestToken,
  requestVerifier,
  signRaw,
  header,
  requestClaims,
  type Fixture,
} from './testing/fixtures.ts';

const ALGS = ['RS256', 'PS256', 'ES256', 'ES384'] as const;
let fixtures: Fixture[];
let verifier: ReturnType<typeof requestVerifier>;
let seeds: string[];

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const NASTY = [...B64U, '.', '=', '+', '/', ' ', '\n', '\u0000', 'é', '\ud800', '"', '{', '}'];

beforeAll(async () => {
  fixtures = await Promise.all(ALGS.map((a) => fixture(a)));
  verifier = requestVerifier(fixtures.map((f) => f.signer));
  // Seeds: valid tokens, and signed tokens with edge-case claims and headers.
  seeds = [];
  for (const f of fixtures) {
    seeds.push(await requestToken(f.signer));
    seeds.push(await requestToken(f.signer, { exp: NOW + 30 }));
    seeds.push(await requestToken(f.signer, { iat: NOW - 100, nbf: NOW - 100, exp: NOW - 31 }));
    seeds.push(
      signRaw(
        f,
        f.alg,
        header(f),
        JSON.stringify(requestClaims()).replace('"aud":"gw-1"', '"aud":"gw-1","aud":"gw-1"'),
      ),
    );
    seeds.push(signRaw(f, f.alg, header(f, { crit: ['exp'] }), JSON.stringify(requestClaims())));
  }
});

/** A mutation of a seed token: edit characters, splice segments, or re-encode parts. */
function mutated(): fc.Arbitrary<string> {
  const edit = fc.record({
    seed: fc.nat(),
    ops: fc.array(
      fc.oneof(
        fc.record({
          kind: fc.constant('set' as const),
          at: fc.nat(),
          ch: fc.constantFrom(...NASTY),
        }),
        fc.record({
          kind: fc.constant('del' as const),
          at: fc.nat(),
          n: fc.integer({ min: 1, max: 8 }),
        }),
        fc.record({
          kind: fc.constant('ins' as const),
          at: fc.nat(),
          s: fc.string({ maxLength: 8 }),
        }),
        fc.record({
          kind: fc.constant('swap' as const),
          a: fc.nat(),
          b: fc.nat(),
          part: fc.integer({ min: 0, max: 2 }),
        }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  });
  return edit.map(({ seed, ops }) => {
    let t = seeds[seed % seeds.length]!;
    for (const op of ops) {
      const at = t.length === 0 ? 0 : ('at' in op ? op.at : 0) % (t.length + 1);
      if (op.kind === 'set') t = t.slice(0, at) + op.ch + t.slice(at + 1);
      else if (op.kind === 'del') t = t.slice(0, at) + t.slice(at + op.n);
      else if (op.kind === 'ins') t = t.slice(0, at) + op.s + t.slice(at);
      else {
        // splice one segment of another seed in
        const other = seeds[op.b % seeds.length]!.split('.');
        const parts = t.split('.');
        parts[op.part] = other[op.part] ?? '';
        t = parts.join('.');
      }
    }
    return t;
  });
}

/** Properly signed tokens with varied headers and claims: the interesting cases for the diff. */
function signedVariant(): fc.Arbitrary<string> {
  // Mostly good values, sometimes a bad one, so both outcomes are common.
  const usually = <T>(good: T, ...bad: T[]) =>
    fc.oneof(
      { weight: 6, arbitrary: fc.constant(good) },
      { weight: 1, arbitrary: fc.constantFrom(...bad) },
    );
  const offset = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: -20, max: 20 }) },
    { weight: 1, arbitrary: fc.integer({ min: -400, max: 400 }) },
  );
  return fc
    .record({
      f: fc.nat(),
      iat: offset,
      nbf: offset,
      life: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 40, max: 300 }) },
        fc.integer({ min: -10, max: 400 }),
      ),
      drop: usually<string | undefined>(undefined, 'iat', 'nbf', 'exp', 'aud', 'iss'),
      aud: usually<unknown>('gw-1', 'gw-2', ['gw-1'], 1),
      iss: usually<unknown>('req-1', 'req-2', ''),
      extraHeader: usually<string | undefined>(undefined, 'cty', 'crit', 'jku', 'b64'),
      typ: usually<unknown>('txn+jwt', 'JWT', undefined),
      dup: usually(false, true),
    })
    .map((r) => {
      const f = fixtures[r.f % fixtures.length]!;
      const c: Record<string, unknown> = requestClaims({
        iat: NOW + r.iat,
        nbf: NOW + r.nbf,
        exp: NOW + r.iat + r.life,
        aud: r.aud,
        iss: r.iss,
      });
      if (r.drop) delete c[r.drop];
      let text = JSON.stringify(c);
      if (r.dup) text = text.replace('"sub":"acct-1"', '"sub":"acct-1","sub":"acct-2"');
      const h: Record<string, unknown> = { alg: f.alg, kid: f.signer.kid, typ: r.typ };
      if (r.extraHeader) h[r.extraHeader] = r.extraHeader === 'crit' ? ['exp'] : 'x';
      return signRaw(f, f.alg, JSON.stringify(h), text);
    });
}

const anyString = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.array(fc.constantFrom(...NASTY), { maxLength: 400 }).map((a) => a.join('')),
  fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((p) => p.join('.')),
);

describe('verify never throws anything but a VerificationError', () => {
  it('on random strings', async () => {
    await fc.assert(
      fc.asyncProperty(anyString, async (token) => {
        const err = await verifier.verify(token).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err === undefined || isVerificationError(err)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('on mutated valid tokens', async () => {
    await fc.assert(
      fc.asyncProperty(mutated(), async (token) => {
        const err = await verifier.verify(token).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err === undefined || isVerificationError(err)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('differential: whatever we accept, jose accepts', () => {
  it('over mutated tokens (and the seeds themselves)', async () => {
    const joseKeys = new Map(
      await Promise.all(
        fixtures.map(
          async (f) =>
            [
              f.signer.kid,
              { alg: f.alg, key: await importJWK(f.signer.publicJwk, f.alg) },
            ] as const,
        ),
      ),
    );
    let accepted = 0;
    const check = async (token: string) => {
      const ours = await verifier.verify(token).then(
        (v) => v,
        () => undefined,
      );
      if (!ours) return;
      accepted++;
      const k = joseKeys.get(ours.header.kid)!;
      await expect(
        jwtVerify(token, k.key, {
          algorithms: [k.alg],
          issuer: 'req-1',
          audience: 'gw-1',
          typ: 'txn+jwt',
          currentDate: new Date(NOW_MS),
          clockTolerance: 30,
          maxTokenAge: 300,
        }),
      ).resolves.toBeDefined();
    };
    for (const s of seeds) await check(s);
    expect(accepted).toBe(fixtures.length * 2); // the two valid seeds per alg
    await fc.assert(fc.asyncProperty(mutated(), check), { numRuns: 1000 });
    const before = accepted;
    await fc.assert(fc.asyncProperty(signedVariant(), check), { numRuns: 1500 });
    // The generator must reach both sides, or the property proves nothing.
    expect(accepted - before).toBeGreaterThan(20);
    expect(accepted - before).toBeLessThan(1500);
  });
});
