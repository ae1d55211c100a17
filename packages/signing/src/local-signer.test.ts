import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtemp, readFile, stat, chmod, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importJWK, jwtVerify } from 'jose';
import { cryptoKeyOptions } from './algorithms.ts';
import { createLocalSigner } from './local-signer.ts';
import { mergeJwks, parseJwks, publicJwkFromKey, readJwksFile, toJwks } from './jwk.ts';
import { generateKeyFiles, loadLocalSigner } from './key-files.ts';
import { ensureLocalSigner } from './key-ring.ts';
import { signJwt } from './jwt.ts';
import { codeOf } from './testing/code-of.ts';

describe('createLocalSigner', () => {
  for (const alg of ['RS256', 'PS256', 'ES256', 'ES384'] as const) {
    it(`${alg}: signs tokens jose verifies; accepts a PKCS#8 PEM string`, async () => {
      const { privateKey } =
        alg[0] === 'E'
          ? generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' })
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
      const signer = await createLocalSigner({ privateKey: pem, alg });
      const token = await signJwt(signer, { a: 1 }, { typ: 'txn+jwt' });
      const { payload, protectedHeader } = await jwtVerify(
        token,
        await importJWK(signer.publicJwk, alg),
      );
      expect(payload).toEqual({ a: 1 });
      expect(protectedHeader).toEqual({ alg, kid: signer.kid, typ: 'txn+jwt' });
      if (alg[0] === 'E')
        expect(Buffer.from(token.split('.')[2]!, 'base64url')).toHaveLength(
          alg === 'ES256' ? 64 : 96,
        );
    });
  }

  it('PS256 uses a 32-byte salt (verifies with saltLength 32 only)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const signer = await createLocalSigner({ privateKey, alg: 'PS256' });
    const sig = await signer.sign(Buffer.from('x'));
    expect(verify('sha256', Buffer.from('x'), cryptoKeyOptions(publicKey, 'PS256'), sig)).toBe(
      true,
    );
    expect(
      verify('sha256', Buffer.from('x'), { key: publicKey, padding: 6, saltLength: 64 }, sig),
    ).toBe(false);
  });

  it('refuses keys that do not fit the alg, public keys and garbage', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(await codeOf(createLocalSigner({ privateKey: ec.privateKey, alg: 'RS256' }))).toBe(
      'KEY_MISMATCH',
    );
    expect(await codeOf(createLocalSigner({ privateKey: ec.privateKey, alg: 'ES384' }))).toBe(
      'KEY_MISMATCH',
    );
    expect(await codeOf(createLocalSigner({ privateKey: small.privateKey, alg: 'RS256' }))).toBe(
      'KEY_MISMATCH',
    );
    expect(await codeOf(createLocalSigner({ privateKey: ec.publicKey, alg: 'ES256' }))).toBe(
      'KEY_MISMATCH',
    );
    expect(await codeOf(createLocalSigner({ privateKey: 'not a pem', alg: 'ES256' }))).toBe(
      'KEY_UNAVAILABLE',
    );
  });
});

describe('JWK / JWKS', () => {
  it('kid is the RFC 7638 thumbprint (computed independently here)', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = await publicJwkFromKey(rsa.privateKey, 'RS256');
    const canonical = `{"e":"${jwk.e}","kty":"RSA","n":"${jwk.n}"}`;
    expect(jwk.kid).toBe(createHash('sha256').update(canonical).digest('base64url'));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const ejwk = await publicJwkFromKey(ec.publicKey, 'ES384');
    const ecanon = `{"crv":"P-384","kty":"EC","x":"${ejwk.x}","y":"${ejwk.y}"}`;
    expect(ejwk.kid).toBe(createHash('sha256').update(ecanon).digest('base64url'));
    expect(ejwk).toMatchObject({ kty: 'EC', alg: 'ES384', use: 'sig', crv: 'P-384' });
    expect(Object.keys(ejwk)).not.toContain('d');
  });

  it('toJwks and mergeJwks dedupe by kid and refuse two keys under one kid', async () => {
    const a = await createLocalSigner({
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      alg: 'ES256',
    });
    const b = await createLocalSigner({
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      alg: 'ES256',
    });
    const jwks = toJwks([a, b, { keys: [a.publicJwk] }, b.publicJwk]);
    expect(jwks.keys.map((k) => k.kid)).toEqual([a.kid, b.kid]);
    expect(await codeOf(() => mergeJwks(jwks, { keys: [{ ...b.publicJwk, kid: a.kid }] }))).toBe(
      'KEY_MISMATCH',
    );
  });

  it('parseJwks rejects private members, unknown algs and keys that do not fit their alg', async () => {
    const a = await createLocalSigner({
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      alg: 'ES256',
    });
    expect(parseJwks({ keys: [a.publicJwk] }).keys).toHaveLength(1);
    const priv = a.publicJwk as unknown as Record<string, unknown>;
    expect(await codeOf(() => parseJwks({ keys: [{ ...priv, d: 'AAAA' }] }))).toBe(
      'CONFIG_INVALID',
    );
    expect(await codeOf(() => parseJwks({ keys: [{ ...priv, alg: 'HS256' }] }))).toBe(
      'CONFIG_INVALID',
    );
    expect(await codeOf(() => parseJwks({ keys: [{ ...priv, alg: 'ES384' }] }))).toBe(
      'CONFIG_INVALID',
    );
    expect(await codeOf(() => parseJwks({ keys: [{ ...priv, alg: 'RS256' }] }))).toBe(
      'CONFIG_INVALID',
    );
    expect(await codeOf(() => parseJwks({ keys: [{ ...priv, x: 'AAAA' }] }))).toBe(
      'CONFIG_INVALID',
    );
    expect(await codeOf(() => parseJwks({ keys: 'x' }))).toBe('CONFIG_INVALID');
    expect(await codeOf(() => parseJwks(null))).toBe('CONFIG_INVALID');
  });
});

describe('key files', () => {
  it('generates 0600 PKCS#8 + public JWKS in a 0700 dir, never overwrites, and loads', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'cs-keys-')), 'keys');
    const gen = await generateKeyFiles(dir, 'requester', 'ES256');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(gen.privateKeyPath)).mode & 0o777).toBe(0o600);
    expect(await readFile(gen.privateKeyPath, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const jwks = await readJwksFile(gen.jwksPath);
    expect(jwks.keys).toEqual([gen.signer.publicJwk]);
    const before = await readFile(gen.privateKeyPath, 'utf8');
    expect(await codeOf(generateKeyFiles(dir, 'requester', 'ES256'))).toBe('KEY_EXISTS');
    expect(await readFile(gen.privateKeyPath, 'utf8')).toBe(before);
    const loaded = await loadLocalSigner(dir, 'requester', 'ES256');
    expect(loaded.kid).toBe(gen.signer.kid);
    expect((await ensureLocalSigner(dir, 'requester', 'ES256')).kid).toBe(gen.signer.kid);
    const fresh = await ensureLocalSigner(dir, 'gateway', 'RS256');
    expect(fresh.alg).toBe('RS256');
    expect((await ensureLocalSigner(dir, 'gateway', 'RS256')).kid).toBe(fresh.kid);
  });

  it('refuses a key file readable by others, a bad name and a missing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-keys-'));
    const gen = await generateKeyFiles(dir, 'k', 'ES256');
    await chmod(gen.privateKeyPath, 0o644);
    expect(await codeOf(loadLocalSigner(dir, 'k', 'ES256'))).toBe('KEY_UNAVAILABLE');
    expect(await codeOf(generateKeyFiles(dir, '../evil', 'ES256'))).toBe('CONFIG_INVALID');
    expect(await codeOf(loadLocalSigner(dir, 'missing', 'ES256'))).toBe('KEY_UNAVAILABLE');
    await writeFile(join(dir, 'bad.jwks.json'), '{');
    expect(await codeOf(readJwksFile(join(dir, 'bad.jwks.json')))).toBe('CONFIG_INVALID');
  });
});
