// KmsSigner and the KMS key resolver against moto. moto quirks (see DESIGN.md §8): its DIGEST
// re-hashes the digest and its PS256 uses the maximal PSS salt, so PS256 and DIGEST are covered
// with a stub in packages/signing/src/kms-signer.test.ts; here PS256 shows the signer refusing
// moto's signature instead of handing out a token nobody else would accept.
import { CreateKeyCommand, KMSClient, type KeySpec } from '@aws-sdk/client-kms';
import { importJWK, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createKmsClient, createKmsSigner, signJwt } from '@countersign/signing';
import { createVerifier, kmsPublicKeys } from '@countersign/verifier';
import { clientConfig } from './support/aws.ts';

function claims() {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: 'req-kms',
    sub: 'acct-1',
    aud: 'gw-kms',
    iat: now,
    nbf: now,
    exp: now + 60,
    jti: `${'k'.repeat(16)}${Math.random().toString(36).slice(2, 8).padEnd(6, 'x')}`,
    txn: {
      type: 'order',
      side: 'sell',
      symbol: 'ETH-USD',
      quantity: '1.5',
      limitPrice: '3000',
      timeInForce: 'IOC',
    },
  };
}

let kms: KMSClient;
const keyIds: Partial<Record<'RS256' | 'PS256' | 'ES256' | 'ES384', string>> = {};

async function createKey(spec: KeySpec): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: 'SIGN_VERIFY' }));
  return out.KeyMetadata!.KeyId!;
}

beforeAll(async () => {
  kms = createKmsClient(clientConfig());
  keyIds.RS256 = await createKey('RSA_2048');
  keyIds.PS256 = keyIds.RS256;
  keyIds.ES256 = await createKey('ECC_NIST_P256');
  keyIds.ES384 = await createKey('ECC_NIST_P384');
});

describe('KmsSigner on moto (RAW)', () => {
  for (const alg of ['RS256', 'ES256', 'ES384'] as const) {
    it(`${alg}: our verifier (kmsPublicKeys) and jose accept the token`, async () => {
      const signer = await createKmsSigner({ client: kms, keyId: keyIds[alg]!, alg });
      const token = await signJwt(signer, claims(), { typ: 'txn+jwt' });
      const keys = kmsPublicKeys({
        client: kms,
        keyIds: [keyIds[alg]!],
        issuer: 'req-kms',
      });
      const verifier = createVerifier({
        keys,
        issuers: ['req-kms'],
        audience: 'gw-kms',
        typ: 'txn+jwt',
      });
      const v = await verifier.verify(token);
      expect(v.header).toEqual({ alg, kid: signer.kid, typ: 'txn+jwt' });
      expect(v.claims.txn.symbol).toBe('ETH-USD');
      const jose = await jwtVerify(token, await importJWK(signer.publicJwk, alg), {
        algorithms: [alg],
        issuer: 'req-kms',
        audience: 'gw-kms',
        typ: 'txn+jwt',
      });
      expect(jose.payload.sub).toBe('acct-1');
      expect(signer.metrics()).toMatchObject({ signs: 1, errors: 0 });
      expect(signer.metrics().lastMs).toBeGreaterThan(0);
    });
  }

  it('KEY_MISMATCH when the alg and the key spec disagree, naming the key', async () => {
    for (const [alg, keyId, spec] of [
      ['ES256', keyIds.RS256!, 'RSA_2048'],
      ['ES384', keyIds.ES256!, 'ECC_NIST_P256'],
      ['RS256', keyIds.ES384!, 'ECC_NIST_P384'],
    ] as const) {
      const err = await createKmsSigner({ client: kms, keyId, alg }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'KEY_MISMATCH' });
      expect((err as Error).message).toContain(keyId);
      expect((err as Error).message).toContain(spec);
    }
  });

  it('KEY_MISMATCH for an encryption key and KEY_UNAVAILABLE for a missing one', async () => {
    const enc = await kms.send(
      new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }),
    );
    const encId = enc.KeyMetadata!.KeyId!;
    await expect(
      createKmsSigner({ client: kms, keyId: encId, alg: 'RS256' }),
    ).rejects.toMatchObject({
      code: 'KEY_MISMATCH',
    });
    await expect(
      createKmsSigner({ client: kms, keyId: '00000000-0000-0000-0000-000000000000', alg: 'RS256' }),
    ).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE' });
  });

  it("PS256: moto's maximal-salt signature is refused by the signer's self-check", async () => {
    const signer = await createKmsSigner({ client: kms, keyId: keyIds.PS256!, alg: 'PS256' });
    await expect(signJwt(signer, claims(), { typ: 'txn+jwt' })).rejects.toMatchObject({
      code: 'SIGNING_FAILED',
      message: expect.stringMatching(/does not verify as PS256/),
    });
  });
});

describe('kmsPublicKeys on moto', () => {
  it('GetPublicKey once for 100 verifies (counted by the resolver and by SDK middleware)', async () => {
    const signer = await createKmsSigner({ client: kms, keyId: keyIds.ES256!, alg: 'ES256' });
    const tokens = await Promise.all(
      Array.from({ length: 4 }, () => signJwt(signer, claims(), { typ: 'txn+jwt' })),
    );
    const counted = new KMSClient(clientConfig());
    const seen: string[] = [];
    counted.middlewareStack.add(
      (next, context) => (args) => {
        seen.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'countCalls' },
    );
    const keys = kmsPublicKeys({ client: counted, keyIds: [keyIds.ES256!] });
    const verifier = createVerifier({
      keys,
      issuers: ['req-kms'],
      audience: 'gw-kms',
      typ: 'txn+jwt',
    });
    for (let i = 0; i < 100; i++) await verifier.verify(tokens[i % tokens.length]!);
    expect(keys.kmsCalls).toBe(1);
    expect(seen).toEqual(['GetPublicKeyCommand']);
  });
});
