// kid shadowing across tenants (issue 14): one kid names one key of one requester, and a kid in
// the form of an RFC 7638 thumbprint must be its key's own. Real keys, real tokens; jose is the
// thumbprint oracle.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { RequesterPolicy } from '@countersign/contracts';
import { combineKeys, staticKeys } from './key-resolvers.ts';
import { createKidOwners, type KidConflict } from './key-sets.ts';
import { policyKeys } from './policy-keys.ts';
import { jwkThumbprint } from './thumbprint.ts';
import { createVerifier } from './verifier.ts';
import { clock, codeOf, fixture, requestToken, type Fixture } from './testing/fixtures.ts';

let a: Fixture, b: Fixture, rsa: Fixture, p384: Fixture;
beforeAll(async () => {
  [a, b, rsa, p384] = await Promise.all([
    fixture('ES256'),
    fixture('ES256'),
    fixture('RS256'),
    fixture('ES384'),
  ]);
});

const policy = (id: string, over: Partial<RequesterPolicy> = {}) =>
  RequesterPolicy.parse({
    id,
    accounts: ['acct-1'],
    symbols: ['BTC-USD'],
    maxNotional: '100000',
    ...over,
  });

/** What the config error says, per field. */
function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    expect((err as { code?: string }).code).toBe('CONFIG_INVALID');
    return [...(err as { issues: { path: string; message: string }[] }).issues];
  }
  throw new Error('expected a configuration error');
}

describe('RFC 7638 thumbprints', () => {
  it('equal jose for EC P-256, P-384 and RSA keys', async () => {
    for (const f of [a, rsa, p384]) {
      expect(jwkThumbprint(f.signer.publicJwk)).toBe(
        await calculateJwkThumbprint(f.signer.publicJwk, 'sha256'),
      );
      expect(jwkThumbprint(f.signer.publicJwk)).toBe(f.signer.kid);
    }
  });

  it('a JWKS entry whose thumbprint-shaped kid is another key’s is refused', async () => {
    const shadow = { ...b.signer.publicJwk, kid: a.signer.kid };
    expect(() => staticKeys({ keys: [shadow] })).toThrow(/thumbprint/);
    const dir = await mkdtemp(join(tmpdir(), 'kid-'));
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [shadow] }));
    const issues = issuesOf(() =>
      policyKeys([policy('req-b', { jwksFile: join(dir, 'jwks.json') })]),
    );
    expect(issues).toEqual([
      {
        path: 'COUNTERSIGN_POLICIES[0].jwksFile',
        message: expect.stringContaining(`kid ${a.signer.kid} has the form of an RFC 7638`),
      },
    ]);
    // A kid of another form cannot be checked, and is allowed.
    expect(() =>
      staticKeys({ keys: [{ ...b.signer.publicJwk, kid: 'key-2026-01' }] }),
    ).not.toThrow();
  });
});

describe('duplicate kids across trusted key sets', () => {
  it('without the check, tenant B’s valid token fails as BAD_SIGNATURE (the shadowing)', async () => {
    // Key sets resolved in order, the first that knows a kid wins: A's entry shadows B's.
    const verifier = createVerifier({
      keys: combineKeys(
        staticKeys({ keys: [{ ...a.signer.publicJwk, kid: 'shared' }] }, { issuer: 'req-a' }),
        staticKeys({ keys: [{ ...b.signer.publicJwk, kid: 'shared' }] }, { issuer: 'req-b' }),
      ),
      issuers: ['req-a', 'req-b'],
      audience: 'gw-1',
      typ: 'txn+jwt',
      clock,
    });
    const bSigner = { ...b.signer, kid: 'shared' };
    expect(await codeOf(verifier.verify(await requestToken(bSigner, { iss: 'req-b' })))).toBe(
      'BAD_SIGNATURE',
    );
  });

  it('is a configuration error naming both places: two tenants, or two keys under one kid', () => {
    const twoTenants = issuesOf(() =>
      policyKeys([
        policy('req-a', { jwks: { keys: [{ ...a.signer.publicJwk, kid: 'shared' }] } }),
        policy('req-b', { jwks: { keys: [{ ...b.signer.publicJwk, kid: 'shared' }] } }),
      ]),
    );
    expect(twoTenants).toEqual([
      {
        path: 'COUNTERSIGN_POLICIES[1].jwks',
        message:
          'kid shared is also trusted for requester req-a (COUNTERSIGN_POLICIES[0].jwks): a kid must name one key of one requester',
      },
    ]);
    // The same public key trusted for two requesters is refused too (it would bind to the first).
    expect(
      issuesOf(() =>
        policyKeys([
          policy('req-a', { jwks: { keys: [{ ...a.signer.publicJwk }] } }),
          policy('req-b', { jwks: { keys: [{ ...a.signer.publicJwk }] } }),
        ]),
      ),
    ).toHaveLength(1);
    expect(
      issuesOf(() =>
        policyKeys([policy('req-a', { jwks: { keys: [{ ...a.signer.publicJwk, kid: 'k1' }] } })], {
          alsoTrusted: [
            {
              where: 'keys/requester.jwks.json',
              issuer: 'req-a',
              keys: [{ ...b.signer.publicJwk, kid: 'k1' }],
            },
          ],
        }),
      ),
    ).toEqual([
      {
        path: 'keys/requester.jwks.json',
        message: 'kid k1 names two different keys (also in COUNTERSIGN_POLICIES[0].jwks)',
      },
    ]);
  });

  it('one requester listing its key inline and in a file, or in its embedded JWKS, is fine', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kid-'));
    await writeFile(join(dir, 'a.json'), JSON.stringify({ keys: [a.signer.publicJwk] }));
    const resolvers = policyKeys(
      [
        policy('req-a', {
          jwks: { keys: [{ ...a.signer.publicJwk }] },
          jwksFile: join(dir, 'a.json'),
        }),
        policy('req-b', { jwks: { keys: [{ ...b.signer.publicJwk }] } }),
        // Not there yet: checked when first read.
        policy('req-c', { jwksFile: join(dir, 'later.json') }),
      ],
      { alsoTrusted: [{ where: 'embedded', issuer: 'req-a', keys: [a.signer.publicJwk] }] },
    );
    expect(resolvers).toHaveLength(4);
  });
});

describe('a key set that loads later is held to the same rule', () => {
  // A policy's JWKS file missing at start (or a JWKS URL) escapes the start check; when it
  // appears offering a kid another tenant holds, its key must be refused and reported, and
  // the other tenant's tokens must keep verifying, whichever policy comes first.
  async function setup(order: 'late-first' | 'late-second', late: 'file' | 'url') {
    const dir = await mkdtemp(join(tmpdir(), 'kid-late-'));
    const file = join(dir, 'b.json');
    const bJwks = JSON.stringify({ keys: [{ ...b.signer.publicJwk, kid: 'shared' }] });
    const reqA = policy('req-a', { jwks: { keys: [{ ...a.signer.publicJwk, kid: 'shared' }] } });
    const reqB = policy(
      'req-b',
      late === 'file' ? { jwksFile: file } : { keys: [{ jwksUrl: 'https://b.example/jwks.json' }] },
    );
    const conflicts: KidConflict[] = [];
    const resolvers = policyKeys(order === 'late-first' ? [reqB, reqA] : [reqA, reqB], {
      clock,
      owners: createKidOwners((c) => conflicts.push(c)),
      fetch: () => Promise.resolve(new Response(bJwks, { status: 200 })),
    });
    await writeFile(file, bJwks); // after start: the start check could not see it
    const verifier = createVerifier({
      keys: combineKeys(...resolvers),
      issuers: ['req-a', 'req-b'],
      audience: 'gw-1',
      typ: 'txn+jwt',
      clock,
    });
    const tokenA = await requestToken({ ...a.signer, kid: 'shared' }, { iss: 'req-a' });
    const tokenB = await requestToken({ ...b.signer, kid: 'shared' }, { iss: 'req-b' });
    return { verifier, resolvers, conflicts, tokenA, tokenB };
  }

  for (const late of ['file', 'url'] as const) {
    for (const order of ['late-first', 'late-second'] as const) {
      it(`a JWKS ${late} (${order}): the tenant holding the kid keeps it, the conflict is reported`, async () => {
        const { verifier, resolvers, conflicts, tokenA, tokenB } = await setup(order, late);
        // Tenant A's valid token verifies with A's key, never with the late set's.
        const verified = await verifier.verify(tokenA);
        expect(verified.key.issuer).toBe('req-a');
        // Tenant B's token under A's kid never resolves to A's key as B's, nor to B's.
        expect(await codeOf(verifier.verify(tokenB))).toMatch(/^(BAD_SIGNATURE|UNKNOWN_KID)$/);
        // Second in order, the late set is read only when a lookup reaches it (a kid the sets
        // before it lack, or a listing): its conflicting key is refused and reported then, once.
        const listed = await Promise.all(resolvers.map((r) => r.list?.() ?? Promise.resolve([])));
        expect(listed.flat().map((e) => [e.kid, e.issuer])).toEqual([['shared', 'req-a']]);
        expect(conflicts).toEqual([
          expect.objectContaining({
            code: 'KID_CONFLICT',
            kid: 'shared',
            owner: 'req-a',
            where: expect.stringContaining(order === 'late-first' ? 'POLICIES[0]' : 'POLICIES[1]'),
            message: expect.stringMatching(/kid shared from .* is already trusted for req-a/),
          }),
        ]);
      });
    }
  }
});
