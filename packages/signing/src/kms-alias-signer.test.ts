// createKmsAliasSigner against the stub KMS: the alias moves, and tokens signed after the next
// re-read name the new key and verify with it; before it, and when the re-read fails or finds a
// key that cannot sign, the current key signs on.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { importJWK, jwtVerify } from 'jose';
import { createKmsAliasSigner, type KmsAliasSigner } from './kms-alias-signer.ts';
import { signJwt } from './jwt.ts';
import { stubKms, type StubKey } from './testing/kms-stub.ts';

const ec = (): StubKey => ({
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  keySpec: 'ECC_NIST_P256',
});

async function setup() {
  const kms = stubKms({
    v1: ec(),
    v2: ec(),
    rsa: { ...generateKeyPairSync('rsa', { modulusLength: 2048 }), keySpec: 'RSA_2048' },
  });
  kms.aliases['alias/requester'] = 'v1';
  const clock = { t: 1_000_000, now: () => clock.t };
  const moves: string[] = [];
  const errors: unknown[] = [];
  const signer = (await createKmsAliasSigner({
    client: kms,
    keyId: 'alias/requester',
    alg: 'ES256',
    wallClock: clock, // defaults: re-read every 60 s, switch 60 s after seeing a move
    onMove: (from, to) => moves.push(`${from.resolvedKeyId}→${to.resolvedKeyId}`),
    onRefreshError: (err) => errors.push(err),
  })) as KmsAliasSigner;
  /** Signs one token; its kid, and whether it verifies with `keyId`'s public key. */
  const token = async () => {
    const jwt = await signJwt(signer, { iss: 'req-1' }, { typ: 'txn+jwt' });
    const kid = (
      JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }
    ).kid;
    return { jwt, kid };
  };
  const settle = () => new Promise((r) => setImmediate(r));
  return { kms, clock, moves, errors, signer, token, settle };
}

describe('createKmsAliasSigner', () => {
  it('follows the alias: a minute after a re-read saw the move, tokens name the new key and verify with it', async () => {
    const t = await setup();
    const v1 = await t.token();
    const v1Jwk = t.signer.publicJwk;
    t.kms.aliases['alias/requester'] = 'v2';
    t.clock.t += 59_999; // before the next re-read: v1
    expect((await t.token()).kid).toBe(v1.kid);
    t.clock.t += 1;
    expect((await t.token()).kid).toBe(v1.kid); // starts the re-read; signs with v1
    await t.settle();
    // Seen, but verifiers may not have read v2 yet: v1 signs for another minute.
    t.clock.t += 59_999;
    expect((await t.token()).kid).toBe(v1.kid);
    expect(t.moves).toEqual([]);
    t.clock.t += 1;
    const v2 = await t.token();
    expect(v2.kid).not.toBe(v1.kid);
    expect(t.signer.resolvedKeyId).toBe('v2');
    await expect(
      jwtVerify(v2.jwt, await importJWK(t.signer.publicJwk, 'ES256')),
    ).resolves.toBeDefined();
    await expect(jwtVerify(v2.jwt, await importJWK(v1Jwk, 'ES256'))).rejects.toThrow();
    // KMS was asked to sign with the key the kid names, never the alias.
    const signedWith = t.kms.calls.filter((c) => c.name === 'Sign').map((c) => c.input.KeyId);
    expect(signedWith).toEqual(['v1', 'v1', 'v1', 'v1', 'v2']);
    expect(t.moves).toEqual(['v1→v2']);
  });

  it('an alias moved back before the switch never signs with the other key', async () => {
    const t = await setup();
    const v1 = t.signer.kid;
    t.kms.aliases['alias/requester'] = 'v2';
    expect(await t.signer.refresh()).toBe(true);
    t.kms.aliases['alias/requester'] = 'v1';
    expect(await t.signer.refresh()).toBe(false);
    t.clock.t += 120_000;
    expect((await t.token()).kid).toBe(v1);
    expect(t.moves).toEqual([]);
  });

  it('one re-read per interval, not per token', async () => {
    const t = await setup();
    t.clock.t += 60_000;
    await Promise.all(Array.from({ length: 20 }, () => t.token()));
    await t.settle();
    await Promise.all(Array.from({ length: 20 }, () => t.token()));
    expect(t.kms.calls.filter((c) => c.name === 'GetPublicKey')).toHaveLength(2); // start + 1
  });

  it('a failed re-read, or a new target that cannot sign ES256, keeps the current key and reports', async () => {
    const t = await setup();
    const before = t.signer.kid;
    t.kms.aliases['alias/requester'] = 'gone';
    expect(await t.signer.refresh()).toBe(false);
    t.kms.aliases['alias/requester'] = 'rsa';
    expect(await t.signer.refresh()).toBe(false);
    t.clock.t += 120_000;
    expect(t.signer.kid).toBe(before);
    expect((await t.token()).kid).toBe(before);
    // (the token above started one more re-read, which finds the RSA key again)
    await t.settle();
    expect(t.errors.map((e) => (e as { code: string }).code)).toEqual([
      'KEY_UNAVAILABLE',
      'KEY_MISMATCH',
      'KEY_MISMATCH',
    ]);
    expect(t.moves).toEqual([]);
  });

  it('a key id (not an alias) is a plain KMS signer', async () => {
    const kms = stubKms({ v1: ec() });
    const signer = await createKmsAliasSigner({ client: kms, keyId: 'v1', alg: 'ES256' });
    expect('current' in signer).toBe(false);
  });
});
