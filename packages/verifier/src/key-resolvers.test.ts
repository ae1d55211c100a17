import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { toJwks } from '@countersign/signing';
import { combineKeys, jwksFile, staticKeys } from './key-resolvers.ts';
import { kmsPublicKeys } from './kms-keys.ts';
import { createVerifier } from './verifier.ts';
import { fixture, NOW_MS, requestToken, type Fixture } from './testing/fixtures.ts';

let es: Fixture, rs: Fixture, ps: Fixture, es384: Fixture;
beforeAll(async () => {
  [es, rs, ps, es384] = await Promise.all([
    fixture('ES256'),
    fixture('RS256'),
    fixture('PS256'),
    fixture('ES384'),
  ]);
});

/** A manual clock. */
function manualClock(start = NOW_MS) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** A KMS stub answering GetPublicKey for the given keys; counts calls, can fail or stall. */
function kmsStub(keys: Record<string, { f: Fixture; spec: string }>) {
  const stub = {
    calls: 0,
    fail: false,
    gate: undefined as Promise<void> | undefined,
    async send(cmd: unknown) {
      if (!(cmd instanceof GetPublicKeyCommand)) throw new Error('unexpected command');
      stub.calls++;
      if (stub.gate) await stub.gate;
      if (stub.fail) throw Object.assign(new Error('down'), { name: 'KMSInternalException' });
      const k = keys[cmd.input.KeyId!];
      if (!k) throw Object.assign(new Error('nope'), { name: 'NotFoundException' });
      return {
        KeyId: cmd.input.KeyId,
        KeyUsage: 'SIGN_VERIFY',
        CustomerMasterKeySpec: k.spec, // moto style: no KeySpec
        PublicKey: new Uint8Array(k.f.publicKey.export({ format: 'der', type: 'spki' })),
      };
    },
  };
  return stub;
}

describe('staticKeys', () => {
  it('resolves by kid, binds an issuer, refuses bad JWKS at creation', async () => {
    const r = staticKeys(toJwks([es.signer, rs.signer]), { issuer: 'req-1' });
    expect(await r.resolve(es.signer.kid)).toMatchObject({
      kid: es.signer.kid,
      alg: 'ES256',
      issuer: 'req-1',
    });
    expect(await r.resolve('nope')).toBeUndefined();
    expect(() => staticKeys({ keys: [{ kty: 'oct', k: 'AAAA', kid: 'x', alg: 'HS256' }] })).toThrow(
      /private key member|alg/,
    );
    expect(() => staticKeys({ keys: [{ ...es.signer.publicJwk, alg: 'RS256' }] })).toThrow();
  });
});

describe('kmsPublicKeys', () => {
  const make = (clock = manualClock()) => {
    const kms = kmsStub({
      'alias/es': { f: es, spec: 'ECC_NIST_P256' },
      'alias/es384': { f: es384, spec: 'ECC_NIST_P384' },
      'alias/rs': { f: rs, spec: 'RSA_2048' },
      'alias/ps': { f: ps, spec: 'RSA_2048' },
    });
    const keys = kmsPublicKeys({
      client: kms,
      keyIds: ['alias/es', 'alias/es384', 'alias/rs', { keyId: 'alias/ps', alg: 'PS256' }],
      issuer: 'req-1',
      ttlMs: 60_000,
      minRefreshIntervalMs: 5_000,
      clock,
    });
    return { kms, keys, clock };
  };

  it('loads every key once and makes ZERO KMS calls per verified token', async () => {
    const { kms, keys, clock } = make();
    const v = createVerifier({ keys, issuers: ['req-1'], audience: 'gw-1', typ: 'txn+jwt', clock });
    const tokens = await Promise.all([es, es384, rs, ps].map((f) => requestToken(f.signer)));
    for (let i = 0; i < 100; i++) await v.verify(tokens[i % tokens.length]!);
    expect(kms.calls).toBe(4);
    expect(keys.kmsCalls).toBe(4);
    // loaded: the first source's keys answer without a load, as resolve does
    expect(keys.peek?.(es.signer.kid)).toBe(await keys.resolve(es.signer.kid));
    const psEntry = await keys.resolve(ps.signer.kid);
    expect(psEntry?.alg).toBe('PS256'); // pinned by the explicit ref; RSA defaults to RS256
    expect((await keys.resolve(rs.signer.kid))?.alg).toBe('RS256');
  });

  it('single-flight: concurrent first resolves share one load', async () => {
    const { kms, keys } = make();
    let open!: () => void;
    kms.gate = new Promise((r) => (open = r));
    const pending = Array.from({ length: 20 }, () => keys.resolve(es.signer.kid));
    open();
    const got = await Promise.all(pending);
    expect(got.every((e) => e?.kid === es.signer.kid)).toBe(true);
    expect(kms.calls).toBe(4);
  });

  it('penalty box: unknown kids trigger at most one refresh per interval', async () => {
    const { kms, keys, clock } = make();
    await keys.resolve(es.signer.kid);
    expect(kms.calls).toBe(4);
    for (let i = 0; i < 50; i++) expect(await keys.resolve(`made-up-${i}`)).toBeUndefined();
    expect(kms.calls).toBe(4); // within minRefreshIntervalMs of the initial load
    clock.advance(5_000);
    for (let i = 0; i < 50; i++) expect(await keys.resolve(`made-up-${i}`)).toBeUndefined();
    expect(kms.calls).toBe(8); // exactly one refresh (4 keys)
  });

  it('TTL: refreshes in the background and keeps serving cached keys when KMS fails', async () => {
    const { kms, keys, clock } = make();
    await keys.resolve(es.signer.kid);
    clock.advance(61_000);
    kms.fail = true;
    expect((await keys.resolve(es.signer.kid))?.kid).toBe(es.signer.kid);
    await new Promise((r) => setTimeout(r, 0));
    expect(kms.calls).toBe(8);
    expect((await keys.resolve(es.signer.kid))?.kid).toBe(es.signer.kid);
  });

  it('first load failing throws KEY_UNAVAILABLE and does not hammer KMS', async () => {
    const { kms, keys } = make();
    kms.fail = true;
    await expect(keys.resolve(es.signer.kid)).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE' });
    await expect(keys.resolve(es.signer.kid)).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE' });
    expect(kms.calls).toBe(4);
  });

  it('a key whose spec does not fit the requested alg is not trusted', async () => {
    const kms = kmsStub({ 'alias/es': { f: es, spec: 'ECC_NIST_P256' } });
    const keys = kmsPublicKeys({
      client: kms,
      keyIds: [{ keyId: 'alias/es', alg: 'RS256' }],
      clock: manualClock(),
    });
    await expect(keys.resolve(es.signer.kid)).rejects.toMatchObject({ code: 'KEY_MISMATCH' });
  });
});

describe('jwksFile', () => {
  it('reads the file once, reloads after TTL or for an unknown kid (rate-limited)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-jwks-'));
    const path = join(dir, 'trusted.jwks.json');
    await writeFile(path, JSON.stringify(toJwks([es.signer])));
    const clock = manualClock();
    const keys = jwksFile(path, {
      issuer: 'req-1',
      ttlMs: 60_000,
      minRefreshIntervalMs: 1_000,
      clock,
    });
    expect((await keys.resolve(es.signer.kid))?.issuer).toBe('req-1');
    // Rotation: the new key appears in the file.
    await writeFile(path, JSON.stringify(toJwks([es.signer, rs.signer])));
    expect(await keys.resolve(rs.signer.kid)).toBeUndefined(); // penalty box
    clock.advance(1_000);
    expect((await keys.resolve(rs.signer.kid))?.alg).toBe('RS256');
  });
});

describe('combineKeys', () => {
  it('first resolver that knows the kid wins', async () => {
    const a = staticKeys(toJwks([es.signer]), { issuer: 'a' });
    const b = staticKeys(toJwks([es.signer, rs.signer]), { issuer: 'b' });
    const c = combineKeys(a, b);
    expect((await c.resolve(es.signer.kid))?.issuer).toBe('a');
    expect((await c.resolve(rs.signer.kid))?.issuer).toBe('b');
    expect(await c.resolve('x')).toBeUndefined();
  });

  it('peek answers only for the first source (a later hit may be shadowed by a load)', () => {
    const a = staticKeys(toJwks([es.signer]), { issuer: 'a' });
    const b = staticKeys(toJwks([es.signer, rs.signer]), { issuer: 'b' });
    const c = combineKeys(a, b);
    expect(c.peek?.(es.signer.kid)?.issuer).toBe('a');
    expect(c.peek?.(rs.signer.kid)).toBeUndefined();
  });
});

describe('kmsPublicKeys key removal', () => {
  it('a key deleted in KMS stops being trusted at the next refresh; a transient failure does not', async () => {
    const clock = manualClock();
    const kms = kmsStub({ a: { f: es, spec: 'ECC_NIST_P256' }, b: { f: rs, spec: 'RSA_2048' } });
    const keys = kmsPublicKeys({
      client: kms,
      keyIds: ['a', 'b'],
      ttlMs: 1_000,
      minRefreshIntervalMs: 1_000,
      clock,
    });
    expect(await keys.resolve(es.signer.kid)).toBeDefined();
    // transient: both fail, cached keys stay
    kms.fail = true;
    clock.advance(1_000);
    expect(await keys.resolve('unknown')).toBeUndefined();
    expect(await keys.resolve(es.signer.kid)).toBeDefined();
    await new Promise((r) => setTimeout(r, 0)); // let the failing refresh settle
    expect(await keys.resolve(es.signer.kid)).toBeDefined();
    // key a deleted: gone after the next refresh, b stays
    kms.fail = false;
    const send = kms.send.bind(kms);
    kms.send = async (cmd: unknown) => {
      if (cmd instanceof GetPublicKeyCommand && cmd.input.KeyId === 'a') {
        kms.calls++;
        throw Object.assign(new Error('gone'), { name: 'NotFoundException' });
      }
      return send(cmd);
    };
    clock.advance(1_000);
    expect(await keys.resolve('unknown-2')).toBeUndefined(); // starts the background refresh
    // The refresh computes thumbprints on the thread pool: wait for it rather than one tick.
    await vi.waitFor(async () => expect(await keys.resolve(es.signer.kid)).toBeUndefined());
    expect(await keys.resolve(rs.signer.kid)).toBeDefined();
  });
});

describe('an unknown kid signed after the last load', () => {
  /** A manual clock whose sleeps end when `advance` passes their time. */
  const sleepingClock = () => {
    let t = NOW_MS;
    const sleepers = new Set<{ until: number; wake: () => void }>();
    return {
      now: () => t,
      sleep: (ms: number) =>
        new Promise<void>((wake) => void sleepers.add({ until: t + ms, wake })),
      advance(ms: number) {
        t += ms;
        for (const s of sleepers) {
          if (s.until <= t) {
            sleepers.delete(s);
            s.wake();
          }
        }
      },
    };
  };
  const settle = () => new Promise((r) => setTimeout(r, 20));

  it('waits for the next load; if that load fails it is KEY_UNAVAILABLE (retry), not UNKNOWN_KID', async () => {
    const clock = sleepingClock();
    const kms = kmsStub({ 'alias/es': { f: es, spec: 'ECC_NIST_P256' } });
    const keys = kmsPublicKeys({ client: kms, keyIds: ['alias/es'], clock });
    await keys.resolve(es.signer.kid);
    clock.advance(1_000);
    kms.fail = true;
    let settled = false;
    const pending = keys.resolve('new-kid').finally(() => (settled = true));
    await settle();
    expect(settled).toBe(false);
    clock.advance(4_000); // the default 5 s interval of an alias ends
    await expect(pending).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE' });
    expect(kms.calls).toBe(2);
  });

  it('never waits on a key id (its material cannot change) nor for a kid a later source has', async () => {
    const clock = sleepingClock();
    const kms = kmsStub({
      'alias/es': { f: es, spec: 'ECC_NIST_P256' },
      k: { f: rs, spec: 'RSA_2048' },
    });
    const alias = kmsPublicKeys({ client: kms, keyIds: ['alias/es'], clock });
    const keyId = kmsPublicKeys({ client: kms, keyIds: ['k'], clock });
    const both = combineKeys(alias, keyId);
    expect(await both.resolve(rs.signer.kid)).toBeDefined();
    clock.advance(1_000); // both loaded a second ago: the alias may not load again for 4 s
    expect((await both.resolve(rs.signer.kid))?.kid).toBe(rs.signer.kid);
    expect(await keyId.resolve('made-up')).toBeUndefined();
    expect(kms.calls).toBe(2);
  });
});
