// Key history and rotation in a real temp directory, on a manual clock (issue 18).
import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { importJWK, jwtVerify } from 'jose';
import { generateKeyFiles, generatePrivateKey, writePrivateKeyFile } from './key-files.ts';
import { activeKey, ensureLocalSigner, openKeyRing, rotateKeyFiles } from './key-ring.ts';
import { parsePublicJwk, readJwksFile } from './jwk.ts';
import { signJwt } from './jwt.ts';
import type { Signer } from './signer.ts';
import { codeOf } from './testing/code-of.ts';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

function manualClock(start = T0) {
  let t = start;
  return { now: () => t, set: (ms: number) => void (t = ms) };
}

async function kidOfToken(signer: Signer): Promise<string> {
  const token = await signJwt(signer, { a: 1 }, { typ: 'txn+jwt' });
  return (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string })
    .kid;
}

describe('activeKey', () => {
  it('takes the newest nbf that has passed among keys not yet retired', () => {
    const ring = [
      { generation: 1, exp: 200 },
      { generation: 2, nbf: 100, exp: 400 },
      { generation: 3, nbf: 300 },
    ];
    expect(activeKey(ring, 50_000)?.generation).toBe(1);
    expect(activeKey(ring, 100_000)?.generation).toBe(2);
    expect(activeKey(ring, 299_999)?.generation).toBe(2);
    expect(activeKey(ring, 300_000)?.generation).toBe(3);
    expect(activeKey([{ generation: 1, exp: 10 }], 10_000)).toBeUndefined();
  });
});

describe('rotateKeyFiles + openKeyRing', () => {
  it('publishes the next key ahead, switches every signer at its nbf, retires the previous', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-ring-'));
    const first = await generateKeyFiles(dir, 'requester', 'ES256');
    const clock = manualClock();
    const ring = await openKeyRing(dir, 'requester', 'ES256', { clock, checkIntervalMs: 1000 });
    expect(await kidOfToken(ring)).toBe(first.signer.kid);

    const rotated = await rotateKeyFiles(dir, 'requester', {
      now: T0,
      activateAfterSec: 5,
      retirePreviousAfterSec: 330,
    });
    expect(rotated).toMatchObject({ generation: 2, alg: 'ES256', nbf: T0 / 1000 + 5 });
    expect(rotated.retired).toEqual([{ kid: first.signer.kid, exp: T0 / 1000 + 335 }]);
    expect((await stat(rotated.privateKeyPath)).mode & 0o777).toBe(0o600);
    const set = await readJwksFile(rotated.jwksPath);
    expect(set.keys.map((k) => [k.kid, k.nbf, k.exp])).toEqual([
      [first.signer.kid, undefined, T0 / 1000 + 335],
      [rotated.kid, T0 / 1000 + 5, undefined],
    ]);
    // No temp file left behind; the first key file untouched.
    expect((await readdir(dir)).sort()).toEqual([
      'requester.2.pem',
      'requester.jwks.json',
      'requester.pem',
    ]);

    clock.set(T0 + 1000); // the ring looks at the file (in the background)…
    expect(await kidOfToken(ring)).toBe(first.signer.kid);
    await vi.waitFor(async () => {
      clock.set(T0 + 5000); // …and switches at nbf, not when it noticed
      expect(await kidOfToken(ring)).toBe(rotated.kid);
    });
    clock.set(T0 + 4999);
    expect(await kidOfToken(ring)).toBe(first.signer.kid);
    clock.set(T0 + 5000);
    expect(ring.kid).toBe(rotated.kid);
    // Header and signature always name the same key.
    const token = await signJwt(ring, { a: 1 }, { typ: 'txn+jwt' });
    await jwtVerify(token, await importJWK(ring.publicJwk, 'ES256'));

    // A process started after the rotation picks the same key by time.
    const late = await ensureLocalSigner(dir, 'requester', 'ES256', { clock });
    expect(late.kid).toBe(rotated.kid);
    clock.set(T0);
    expect(late.kid).toBe(first.signer.kid);
  });

  it('can change alg, and rotating twice retires every earlier key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-ring-'));
    await generateKeyFiles(dir, 'gateway', 'ES256');
    const r2 = await rotateKeyFiles(dir, 'gateway', {
      now: T0,
      activateAfterSec: 2,
      retirePreviousAfterSec: 0,
    });
    const r3 = await rotateKeyFiles(dir, 'gateway', {
      alg: 'RS256',
      now: T0 + 10_000,
      activateAfterSec: 2,
      retirePreviousAfterSec: 0,
    });
    expect(r3).toMatchObject({ generation: 3, alg: 'RS256' });
    const set = await readJwksFile(r3.jwksPath);
    expect(set.keys.map((k) => k.exp)).toEqual([T0 / 1000 + 2, T0 / 1000 + 12, undefined]);
    expect(r3.retired).toEqual([{ kid: r2.kid, exp: T0 / 1000 + 12 }]);
    const clock = manualClock(T0 + 12_000);
    const ring = await openKeyRing(dir, 'gateway', 'ES256', { clock });
    expect([ring.kid, ring.alg]).toEqual([r3.kid, 'RS256']);
  });

  it('an interrupted rotation (key file, no key set entry) never signs; rotating again works', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-ring-'));
    const first = await generateKeyFiles(dir, 'requester', 'ES256');
    await writePrivateKeyFile(join(dir, 'requester.2.pem'), generatePrivateKey('ES256'));
    const clock = manualClock();
    const ring = await openKeyRing(dir, 'requester', 'ES256', { clock });
    expect(ring.kid).toBe(first.signer.kid);
    const r = await rotateKeyFiles(dir, 'requester', {
      now: T0,
      activateAfterSec: 0,
      retirePreviousAfterSec: 60,
    });
    expect(r.generation).toBe(3);
    const reopened = await openKeyRing(dir, 'requester', 'ES256', { clock });
    expect(reopened.kid).toBe(r.kid);
  });

  it('refuses to rotate without a key history, with bad timings, or when a file would be overwritten', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-ring-'));
    const opts = { now: T0, activateAfterSec: 5, retirePreviousAfterSec: 0 };
    expect(await codeOf(rotateKeyFiles(dir, 'requester', opts))).toBe('KEY_UNAVAILABLE');
    await generateKeyFiles(dir, 'requester', 'ES256');
    expect(await codeOf(rotateKeyFiles(dir, 'requester', { ...opts, activateAfterSec: -1 }))).toBe(
      'CONFIG_INVALID',
    );
    expect(await codeOf(rotateKeyFiles(dir, '../x', opts))).toBe('CONFIG_INVALID');
    const pem = await readFile(join(dir, 'requester.pem'), 'utf8');
    expect(
      await codeOf(writePrivateKeyFile(join(dir, 'requester.pem'), generatePrivateKey('ES256'))),
    ).toBe('KEY_EXISTS');
    expect(await readFile(join(dir, 'requester.pem'), 'utf8')).toBe(pem);
  });

  it('a key set whose every key is retired refuses to sign (no silent use of a retired key)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-ring-'));
    const first = await generateKeyFiles(dir, 'requester', 'ES256');
    await writeFile(
      first.jwksPath,
      JSON.stringify({ keys: [{ ...first.signer.publicJwk, exp: T0 / 1000 }] }),
    );
    const ring = await openKeyRing(dir, 'requester', 'ES256', { clock: manualClock() });
    expect(await codeOf(signJwt(ring, { a: 1 }, { typ: 'txn+jwt' }))).toBe('KEY_UNAVAILABLE');
  });
});

describe('validity members of a public JWK', () => {
  it('keeps nbf/exp (epoch seconds) and refuses malformed ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-ring-'));
    const { signer } = await generateKeyFiles(dir, 'k', 'ES256');
    const jwk = signer.publicJwk;
    expect(parsePublicJwk({ ...jwk, nbf: 10, exp: 20 }).jwk).toMatchObject({ nbf: 10, exp: 20 });
    for (const bad of [{ exp: '2026' }, { nbf: -1 }, { exp: 1.5 }, { nbf: 20, exp: 20 }]) {
      expect(await codeOf(() => parsePublicJwk({ ...jwk, ...bad }))).toBe('CONFIG_INVALID');
    }
  });
});
