import { randomBytes } from 'node:crypto';
import { GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { toJwks } from '@countersign/signing';
import type { KeySet } from '@countersign/contracts';
import { jwksUrl } from './jwks-url.ts';
import { keySetResolver, publishedJwks } from './key-sets.ts';
import { createVerifier } from './verifier.ts';
import {
  codeOf,
  fixture,
  NOW,
  NOW_MS,
  requestToken,
  signRaw,
  type Fixture,
} from './testing/fixtures.ts';

let v1: Fixture, v2: Fixture;
beforeAll(async () => {
  [v1, v2] = await Promise.all([fixture('ES256'), fixture('ES256')]);
});

/** A manual clock whose sleeps end when `advance` passes their time. */
function manualClock(start = NOW_MS) {
  let t = start;
  const sleepers = new Set<{ until: number; wake: () => void }>();
  return {
    now: () => t,
    sleep: (ms: number) =>
      new Promise<void>((wake) => void sleepers.add({ until: t + Math.max(0, ms), wake })),
    advance(sec: number) {
      t += sec * 1000;
      for (const s of sleepers) {
        if (s.until <= t) {
          sleepers.delete(s);
          s.wake();
        }
      }
    },
  };
}

/** Lets pending promises (a load, the verifies waiting on it) run. */
const settle = () => new Promise((r) => setTimeout(r, 20));

/** Tracks whether a promise has settled yet. */
function tracked<T>(p: Promise<T>) {
  const t = { done: false, value: p };
  p.then(
    () => (t.done = true),
    () => (t.done = true),
  );
  return t;
}

/** KMS with key ids k1/k2 and one alias whose target can move; counts GetPublicKey calls. */
function kmsWithAlias() {
  const kms = {
    calls: 0,
    target: 'k1',
    send(cmd: unknown) {
      if (!(cmd instanceof GetPublicKeyCommand)) throw new Error('unexpected command');
      kms.calls++;
      const asked = cmd.input.KeyId!;
      const id = asked === 'alias/req' ? kms.target : asked;
      const f = id === 'k1' ? v1 : id === 'k2' ? v2 : undefined;
      if (!f) throw Object.assign(new Error('nope'), { name: 'NotFoundException' });
      return Promise.resolve({
        KeyId: `arn:aws:kms:eu-west-1:000000000000:key/${id}`,
        KeyUsage: 'SIGN_VERIFY',
        KeySpec: 'ECC_NIST_P256',
        PublicKey: new Uint8Array(f.publicKey.export({ format: 'der', type: 'spki' })),
      });
    },
  };
  return kms;
}

function verifierFor(set: KeySet, clock: { now(): number }, extra: object = {}) {
  return createVerifier({
    keys: keySetResolver(set, { issuer: 'req-1', where: 'test', clock, ...extra }),
    issuers: ['req-1'],
    audience: 'gw-1',
    typ: 'txn+jwt',
    clock,
  });
}

/** A token with a made-up kid (well-formed, so the verifier gets as far as the key lookup). */
function randomKidToken(iat?: number): string {
  const header = JSON.stringify({
    alg: 'ES256',
    kid: randomBytes(12).toString('hex'),
    typ: 'txn+jwt',
  });
  return signRaw(v1, 'ES256', header, JSON.stringify({ iss: 'req-1', iat }));
}

/** Tokens signed at the clock's time. */
const signedNow = (f: Fixture, clock: { now(): number }) => {
  const iat = Math.floor(clock.now() / 1000);
  return requestToken(f.signer, { iat, nbf: iat, exp: iat + 60 });
};

describe('an unknown-kid spray', () => {
  it('costs at most one GetPublicKey per interval on an alias, none on a key id', async () => {
    const clock = manualClock();
    const kms = kmsWithAlias();
    const verifier = verifierFor([{ kms: 'alias/req' }, { kms: 'k2' }], clock, { kms: () => kms });
    await verifier.verify(await signedNow(v1, clock)); // the alias knows it: k2 not loaded yet
    expect(kms.calls).toBe(1);
    clock.advance(61); // past the alias's minimum refresh interval (5 s)
    const codes = await Promise.all(
      Array.from({ length: 500 }, () => codeOf(verifier.verify(randomKidToken()))),
    );
    expect(new Set(codes)).toEqual(new Set(['UNKNOWN_KID']));
    // The alias once, k2's first load once; k2's material can never hold a new kid.
    expect(kms.calls).toBe(3);
    for (const _ of Array.from({ length: 200 })) await codeOf(verifier.verify(randomKidToken()));
    expect(kms.calls).toBe(3); // still within the interval
  });

  it('costs at most one fetch per interval on a JWKS URL', async () => {
    const clock = manualClock();
    let fetches = 0;
    const fakeFetch = (() => {
      fetches++;
      return Promise.resolve(new Response(JSON.stringify(toJwks([v1.signer])), { status: 200 }));
    }) as typeof fetch;
    const verifier = verifierFor([{ jwksUrl: 'https://req.example/jwks.json' }], clock, {
      fetch: fakeFetch,
    });
    await verifier.verify(await signedNow(v1, clock));
    clock.advance(6); // past the default 5 s penalty box
    await Promise.all(Array.from({ length: 500 }, () => codeOf(verifier.verify(randomKidToken()))));
    expect(fetches).toBe(2);
  });
});

describe('an alias that moves', () => {
  it('verifies tokens of the old and the new target, and retires the old after the trust window', async () => {
    const clock = manualClock();
    const kms = kmsWithAlias();
    const verifier = verifierFor([{ kms: 'alias/req', previousKeyTrustSec: 330 }], clock, {
      kms: () => kms,
    });
    const queuedV1 = await signedNow(v1, clock);
    expect((await verifier.verify(queuedV1)).header.kid).toBe(v1.signer.kid);

    kms.target = 'k2'; // the runbook's alias switch, while a v1 token is still queued
    clock.advance(61);
    const v2Token = await signedNow(v2, clock);
    expect((await verifier.verify(v2Token)).header.kid).toBe(v2.signer.kid); // unknown kid: one refresh
    expect((await verifier.verify(queuedV1)).header.kid).toBe(v1.signer.kid); // still trusted

    clock.advance(330);
    expect(await codeOf(verifier.verify(await signedNow(v1, clock)))).toBe('KEY_RETIRED');
    // What v1 signed before its retirement still verifies as of its own time (audit).
    expect((await verifier.verify(queuedV1, { at: NOW_MS + 1000 })).claims.iat).toBe(NOW);
  });
});

describe('a running verifier that trusts only an alias', () => {
  it('verifies a new target signed after its last read: waits for the next read (5 s, or minRefreshSec)', async () => {
    const cases: [KeySet, number][] = [
      [[{ kms: 'alias/req' }], 5],
      [[{ kms: 'alias/req', minRefreshSec: 20 }], 20],
    ];
    for (const [set, intervalSec] of cases) {
      const clock = manualClock();
      const kms = kmsWithAlias();
      const verifier = verifierFor(set, clock, { kms: () => kms });
      await verifier.verify(await signedNow(v1, clock));
      kms.target = 'k2'; // the alias moves; a requester started after it signs with v2 at once
      clock.advance(intervalSec - 1);
      const v2Order = tracked(verifier.verify(await signedNow(v2, clock)));
      await settle();
      expect(v2Order.done).toBe(false); // not refused: waiting for the next permitted read
      expect(kms.calls).toBe(1);
      clock.advance(1);
      expect((await v2Order.value).header.kid).toBe(v2.signer.kid);
      expect(kms.calls).toBe(2);
      // The previous target still verifies (v1 tokens queued when the alias moved).
      expect((await verifier.verify(await signedNow(v1, clock))).header.kid).toBe(v1.signer.kid);
    }
  });

  it('refuses at once an unknown kid signed before its last read (no wait, no read)', async () => {
    const clock = manualClock();
    const kms = kmsWithAlias();
    const verifier = verifierFor([{ kms: 'alias/req' }], clock, { kms: () => kms });
    await verifier.verify(await signedNow(v1, clock));
    clock.advance(1);
    // Signed 40 s before our read: beyond iat's rounding and the 30 s skew, our read saw it.
    const old = tracked(codeOf(verifier.verify(randomKidToken(NOW - 40))));
    await settle();
    expect(old.done).toBe(true);
    expect(await old.value).toBe('UNKNOWN_KID');
    expect(kms.calls).toBe(1);
  });

  it('a spray of made-up kids signed now: one read per interval, all refused after it', async () => {
    const clock = manualClock();
    const kms = kmsWithAlias();
    const verifier = verifierFor([{ kms: 'alias/req' }], clock, { kms: () => kms });
    await verifier.verify(await signedNow(v1, clock));
    for (let round = 1; round <= 3; round++) {
      clock.advance(1);
      const iat = Math.floor(clock.now() / 1000);
      const spray = tracked(
        Promise.all(
          Array.from({ length: 300 }, () => codeOf(verifier.verify(randomKidToken(iat)))),
        ),
      );
      await settle();
      expect(spray.done).toBe(false);
      expect(kms.calls).toBe(round); // none yet: the interval since the last read is not over
      clock.advance(4); // the interval ends: one shared read
      expect(new Set(await spray.value)).toEqual(new Set(['UNKNOWN_KID']));
      expect(kms.calls).toBe(round + 1);
      // Signed no later than that read: refused at once, without another.
      expect(await codeOf(verifier.verify(randomKidToken(iat)))).toBe('UNKNOWN_KID');
      expect(kms.calls).toBe(round + 1);
    }
  });

  it('a forged future iat waits no longer than the next read', async () => {
    const clock = manualClock();
    const kms = kmsWithAlias();
    const verifier = verifierFor([{ kms: 'alias/req' }], clock, { kms: () => kms });
    await verifier.verify(await signedNow(v1, clock));
    clock.advance(1);
    const forged = tracked(codeOf(verifier.verify(randomKidToken(NOW + 86_400))));
    await settle();
    expect(forged.done).toBe(false);
    clock.advance(4);
    expect(await forged.value).toBe('UNKNOWN_KID');
    expect(kms.calls).toBe(2);
    // And after that read it is refused at once: the future does not keep it waiting.
    expect(await codeOf(verifier.verify(randomKidToken(NOW + 86_400)))).toBe('UNKNOWN_KID');
    expect(kms.calls).toBe(2);
  });
});

describe('retirement in the trust configuration', () => {
  it('refuses what a key signed at or after its exp, and verifies what it signed before', async () => {
    const clock = manualClock();
    const kms = kmsWithAlias();
    const exp = NOW + 100;
    const verifier = verifierFor([{ kms: 'k1', exp }, { kms: 'k2' }], clock, { kms: () => kms });
    const before = await signedNow(v1, clock);
    await verifier.verify(before);
    clock.advance(100);
    const after = await signedNow(v1, clock);
    expect(await codeOf(verifier.verify(after))).toBe('KEY_RETIRED');
    expect((await verifier.verify(before, { at: NOW_MS + 30_000 })).claims.iat).toBe(NOW);
    await verifier.verify(await signedNow(v2, clock)); // the successor signs on
  });

  it('refuses a token signed before a key’s nbf (beyond skew)', async () => {
    const clock = manualClock();
    const jwk = { ...v2.signer.publicJwk, nbf: NOW + 120 };
    const verifier = verifierFor([{ jwks: { keys: [jwk] } }], clock);
    expect(await codeOf(verifier.verify(await signedNow(v2, clock)))).toBe('NOT_YET_VALID');
    clock.advance(120);
    await verifier.verify(await signedNow(v2, clock));
  });

  it('publishes the keys with their validity', async () => {
    const clock = manualClock();
    const kms = kmsWithAlias();
    const keys = keySetResolver([{ kms: 'k1', exp: NOW + 100 }, { kms: 'k2' }], {
      where: 'test',
      clock,
      kms: () => kms,
    });
    const published = await publishedJwks(keys);
    expect(published.keys.map((k) => [k.kid, k.exp])).toEqual([
      [v1.signer.kid, NOW + 100],
      [v2.signer.kid, undefined],
    ]);
    expect(published.keys.every((k) => !('d' in k))).toBe(true); // public members only
  });
});

describe('a JWKS URL', () => {
  const urlKeys = (body: string, init: ResponseInit = { status: 200 }) =>
    jwksUrl('https://req.example/jwks.json', {
      issuer: 'req-1',
      fetch: () => Promise.resolve(new Response(body, init)),
    });

  it('must be https (plain http only to a loopback host)', () => {
    expect(() => jwksUrl('http://req.example/jwks.json')).toThrow(/must be https/);
    expect(() => jwksUrl('http://127.0.0.1:8080/jwks.json')).not.toThrow();
  });

  it('refuses a body over the size limit, a non-200 answer and non-JSON as KEY_UNAVAILABLE', async () => {
    const big = JSON.stringify({ keys: [v1.signer.publicJwk], pad: 'x'.repeat(70_000) });
    for (const keys of [
      urlKeys(big),
      urlKeys('{}', { status: 302, headers: { location: 'http://evil.example/' } }),
      urlKeys('not json'),
    ]) {
      expect(await codeOf(keys.resolve(v1.signer.kid))).toBe('KEY_UNAVAILABLE');
    }
    expect(await urlKeys(JSON.stringify(toJwks([v1.signer]))).resolve(v1.signer.kid)).toMatchObject(
      { kid: v1.signer.kid, issuer: 'req-1' },
    );
  });
});
