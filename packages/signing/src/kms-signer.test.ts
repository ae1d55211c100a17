// KmsSigner against a stub KMS. The stub signs like real KMS; moto differs in two places we can
// only cover here: its DIGEST re-hashes the digest, and its PS256 uses the maximal salt length
// (real KMS and jose use 32). Both paths are tested with the stub, not moto.
import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { importJWK, jwtVerify } from 'jose';
import { errorCodeOf, type Algorithm } from '@countersign/contracts';
import { cryptoKeyOptions } from './algorithms.ts';
import { createKmsClient, createKmsSigner, KMS_RAW_MAX_BYTES } from './kms-signer.ts';
import { signJwt } from './jwt.ts';
import { stubKms, type StubKey } from './testing/kms-stub.ts';

const SPEC: Record<Algorithm, string> = {
  RS256: 'RSA_2048',
  PS256: 'RSA_2048',
  ES256: 'ECC_NIST_P256',
  ES384: 'ECC_NIST_P384',
};

function stubKey(alg: Algorithm, extra: Partial<StubKey> = {}): StubKey {
  const pair =
    SPEC[alg] === 'RSA_2048'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' });
  return { ...pair, keySpec: SPEC[alg], ...extra };
}

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: String(errorCodeOf(err)), message: (err as Error).message };
  }
  throw new Error('expected a rejection');
}

describe('createKmsSigner', () => {
  for (const alg of ['RS256', 'PS256', 'ES256', 'ES384'] as const) {
    it(`${alg}: RAW signs verify locally and with jose; GetPublicKey once`, async () => {
      const key = stubKey(alg);
      const kms = stubKms({ k1: key });
      const signer = await createKmsSigner({ client: kms, keyId: 'k1', alg });
      const token = await signJwt(signer, { iss: 'req-1', hello: 'world' }, { typ: 'txn+jwt' });
      const input = token.slice(0, token.lastIndexOf('.'));
      const sig = Buffer.from(token.split('.')[2]!, 'base64url');
      expect(
        verify(
          alg === 'ES384' ? 'sha384' : 'sha256',
          Buffer.from(input),
          cryptoKeyOptions(key.publicKey, alg),
          sig,
        ),
      ).toBe(true);
      await expect(jwtVerify(token, await importJWK(signer.publicJwk, alg))).resolves.toBeDefined();
      const signCall = kms.calls.find((c) => c.name === 'Sign')!;
      expect(signCall.input.MessageType).toBe('RAW');
      expect(kms.calls.filter((c) => c.name === 'GetPublicKey')).toHaveLength(1);
      expect(signer.metrics()).toMatchObject({ signs: 1, errors: 0, throttles: 0 });
    });

    it(`${alg}: inputs over ${KMS_RAW_MAX_BYTES} bytes are hashed locally and sent as DIGEST`, async () => {
      const key = stubKey(alg);
      const kms = stubKms({ k1: key });
      const signer = await createKmsSigner({ client: kms, keyId: 'k1', alg });
      const hash = alg === 'ES384' ? 'sha384' : 'sha256';
      for (const size of [KMS_RAW_MAX_BYTES, KMS_RAW_MAX_BYTES + 1, 20_000]) {
        const input = Buffer.alloc(size, 0x61);
        kms.expectDigestOf(input, hash);
        const sig = await signer.sign(input);
        expect(verify(hash, input, cryptoKeyOptions(key.publicKey, alg), sig)).toBe(true);
        const call = kms.calls.filter((c) => c.name === 'Sign').at(-1)!;
        if (size <= KMS_RAW_MAX_BYTES) {
          expect(call.input.MessageType).toBe('RAW');
        } else {
          expect(call.input.MessageType).toBe('DIGEST');
          expect(Buffer.from(call.input.Message as Uint8Array)).toEqual(
            createHash(hash).update(input).digest(),
          );
        }
      }
    });
  }

  it('accepts moto-style responses that carry only CustomerMasterKeySpec', async () => {
    const kms = stubKms({ k1: stubKey('ES256', { onlyCustomerMasterKeySpec: true }) });
    await expect(
      createKmsSigner({ client: kms, keyId: 'k1', alg: 'ES256' }),
    ).resolves.toBeDefined();
  });

  it('fails fast with KEY_MISMATCH naming the key when spec or usage do not fit the alg', async () => {
    const kms = stubKms({
      rsa: stubKey('RS256'),
      p256: stubKey('ES256'),
      enc: stubKey('RS256', { keyUsage: 'ENCRYPT_DECRYPT' }),
    });
    for (const [keyId, alg, pattern] of [
      ['rsa', 'ES256', /rsa: key spec RSA_2048 cannot sign ES256/],
      ['p256', 'ES384', /p256: key spec ECC_NIST_P256 cannot sign ES384/],
      ['p256', 'RS256', /p256: key spec ECC_NIST_P256 cannot sign RS256/],
      ['enc', 'RS256', /enc: KeyUsage is ENCRYPT_DECRYPT, RS256 needs SIGN_VERIFY/],
    ] as const) {
      const e = await codeOf(createKmsSigner({ client: kms, keyId, alg }));
      expect(e.code).toBe('KEY_MISMATCH');
      expect(e.message).toMatch(pattern);
    }
  });

  it('fails fast with KEY_UNAVAILABLE when the key does not exist', async () => {
    const e = await codeOf(createKmsSigner({ client: stubKms({}), keyId: 'nope', alg: 'ES256' }));
    expect(e).toEqual({
      code: 'KEY_UNAVAILABLE',
      message: 'KMS key nope: GetPublicKey failed (NotFoundException)',
    });
  });

  it('refuses a PS256 signature with a non-32-byte salt (what moto produces)', async () => {
    const kms = stubKms({ k1: stubKey('PS256', { pssMaxSalt: true }) });
    const signer = await createKmsSigner({ client: kms, keyId: 'k1', alg: 'PS256' });
    const e = await codeOf(signer.sign(Buffer.from('x')));
    expect(e.code).toBe('SIGNING_FAILED');
    expect(e.message).toMatch(/does not verify as PS256/);
    expect(signer.metrics().errors).toBe(1);
  });

  it('bounds concurrent kms:Sign calls and reports latency', async () => {
    const kms = stubKms({ k1: stubKey('ES256') });
    kms.delayMs = 5;
    const signer = await createKmsSigner({
      client: kms,
      keyId: 'k1',
      alg: 'ES256',
      maxConcurrency: 3,
    });
    kms.maxInFlight = 0;
    await Promise.all(Array.from({ length: 30 }, (_, i) => signer.sign(Buffer.from(`m${i}`))));
    expect(kms.maxInFlight).toBe(3);
    const m = signer.metrics();
    expect(m.signs).toBe(30);
    expect(m.p50Ms).toBeGreaterThan(0);
    expect(m.p99Ms).toBeGreaterThanOrEqual(m.p50Ms);
    expect(m.inFlight).toBe(0);
  });

  it('a throttled call that exhausted the SDK retries fails SIGNING_FAILED, retryable, and is counted', async () => {
    const kms = stubKms({ k1: stubKey('ES256') });
    const signer = await createKmsSigner({ client: kms, keyId: 'k1', alg: 'ES256' });
    kms.failNextSigns(1, 'ThrottlingException');
    const err = await signer.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'SIGNING_FAILED',
      details: { keyId: 'k1', retryable: true },
    });
    await expect(signer.sign(Buffer.from('x'))).resolves.toHaveLength(64);
    expect(signer.metrics()).toMatchObject({ signs: 1, errors: 1, throttles: 1, retries: 2 });
  });
});

describe('createKmsClient', () => {
  it('uses adaptive retry: ThrottlingException responses are retried by the SDK', async () => {
    const key = stubKey('ES256');
    const stub = stubKms({ k1: key });
    let throttled = 0;
    // An HTTP handler in front of the stub: the first two Sign requests get HTTP 400 throttling.
    const client = createKmsClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      maxAttempts: 3,
      requestHandler: {
        async handle(req: { headers: Record<string, string>; body?: string }) {
          const target = req.headers['x-amz-target'] ?? '';
          const input = JSON.parse(req.body ?? '{}') as Record<string, unknown>;
          let status = 200;
          let body: unknown;
          if (target.endsWith('.Sign') && throttled < 2) {
            throttled++;
            status = 400;
            body = { __type: 'ThrottlingException', message: 'Rate exceeded' };
          } else {
            const { GetPublicKeyCommand, SignCommand } = await import('@aws-sdk/client-kms');
            const cmd = target.endsWith('.Sign')
              ? new SignCommand({
                  ...input,
                  Message: Buffer.from(input.Message as string, 'base64'),
                } as never)
              : new GetPublicKeyCommand(input as never);
            const out = (await stub.send(cmd as never)) as unknown as Record<string, unknown>;
            body = Object.fromEntries(
              Object.entries(out)
                .filter(([k]) => k !== '$metadata')
                .map(([k, v]) => [
                  k,
                  v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
                ]),
            );
          }
          return {
            response: {
              statusCode: status,
              reason: '',
              headers: { 'content-type': 'application/x-amz-json-1.1' },
              body: Buffer.from(JSON.stringify(body)),
            },
          };
        },
      } as never,
    });
    const mode = client.config.retryMode as unknown;
    expect(typeof mode === 'function' ? await (mode as () => Promise<string>)() : mode).toBe(
      'adaptive',
    );
    const signer = await createKmsSigner({ client, keyId: 'k1', alg: 'ES256' });
    const sig = await signer.sign(Buffer.from('hello'));
    expect(
      verify('sha256', Buffer.from('hello'), cryptoKeyOptions(key.publicKey, 'ES256'), sig),
    ).toBe(true);
    expect(throttled).toBe(2);
    expect(signer.metrics()).toMatchObject({ signs: 1, errors: 0, retries: 2 });
  });
});
