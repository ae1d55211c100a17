// Local key files for the embedded mode: `<dir>/<name>.pem` (PKCS#8, 0600, in a 0700 dir) and
// `<dir>/<name>.jwks.json` (the public JWKS to hand to verifiers). Never overwrites a key.
// Rotation adds `<dir>/<name>.<n>.pem` and keeps the JWKS as the key history (key-ring.ts).
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCodeOf, type Algorithm } from '@countersign/contracts';
import { ALGORITHMS, isAlgorithm } from './algorithms.ts';
import { SigningError } from './errors.ts';
import { createLocalSigner, type LocalSignerRuntime } from './local-signer.ts';
import type { Jwks, Signer } from './signer.ts';

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export interface KeyFilePaths {
  readonly privateKeyPath: string;
  readonly jwksPath: string;
}

export function keyFilePaths(dir: string, name: string): KeyFilePaths {
  if (!NAME.test(name) || name.startsWith('.')) {
    throw new SigningError('CONFIG_INVALID', `key name "${name}" must match [A-Za-z0-9._-]{1,64}`);
  }
  return { privateKeyPath: join(dir, `${name}.pem`), jwksPath: join(dir, `${name}.jwks.json`) };
}

export function generatePrivateKey(alg: Algorithm): KeyObject {
  const spec = ALGORITHMS[alg];
  return spec.kty === 'RSA'
    ? generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 }).privateKey
    : generateKeyPairSync('ec', { namedCurve: spec.namedCurve! }).privateKey;
}

export function isErrno(err: unknown, code: string): boolean {
  return errorCodeOf(err) === code;
}

/** Writes a private key file exclusively (0600): KEY_EXISTS when the file is already there. */
export async function writePrivateKeyFile(path: string, privateKey: KeyObject): Promise<void> {
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  try {
    // 'wx' = create exclusively: two processes racing cannot both write a key.
    await writeFile(path, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if (isErrno(err, 'EEXIST')) {
      throw new SigningError('KEY_EXISTS', `refusing to overwrite existing key ${path}`, {
        details: { path },
      });
    }
    throw err;
  }
}

/** Writes a key set by rename: a reader sees the old file or the new one, never half of one. */
export async function writeKeySetFile(path: string, jwks: Jwks): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o644, flag: 'wx' });
  await rename(tmp, path);
}

/** Reads a PKCS#8 private key file; refuses one readable by group or others. */
export async function readPrivateKeyFile(path: string): Promise<KeyObject> {
  let pem: string;
  try {
    const info = await stat(path);
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new SigningError(
        'KEY_UNAVAILABLE',
        `key file ${path} is accessible by group or others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
        { details: { path } },
      );
    }
    pem = await readFile(path, 'utf8');
  } catch (cause) {
    if (cause instanceof SigningError) throw cause;
    throw new SigningError('KEY_UNAVAILABLE', `cannot read key file ${path}`, {
      cause,
      details: { path },
    });
  }
  try {
    return createPrivateKey(pem);
  } catch (cause) {
    throw new SigningError('KEY_UNAVAILABLE', `key file ${path} is not a PKCS#8 PEM private key`, {
      cause,
      details: { path },
    });
  }
}

export interface GeneratedKey extends KeyFilePaths {
  readonly signer: Signer;
  readonly jwks: Jwks;
}

/** Generates a key pair and writes both files; KEY_EXISTS if the private key file exists. */
export async function generateKeyFiles(
  dir: string,
  name: string,
  alg: Algorithm,
  signerOptions: LocalSignerRuntime = {},
): Promise<GeneratedKey> {
  if (!isAlgorithm(alg)) throw new SigningError('CONFIG_INVALID', `unsupported alg ${String(alg)}`);
  const paths = keyFilePaths(dir, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privateKey = generatePrivateKey(alg);
  const signer = await createLocalSigner({ ...signerOptions, privateKey, alg });
  await writePrivateKeyFile(paths.privateKeyPath, privateKey);
  const jwks: Jwks = { keys: [signer.publicJwk] };
  await writeKeySetFile(paths.jwksPath, jwks);
  return { ...paths, signer, jwks };
}

/** Loads `<dir>/<name>.pem`; refuses a key file readable by group or others. */
export async function loadLocalSigner(
  dir: string,
  name: string,
  alg: Algorithm,
  signerOptions: LocalSignerRuntime = {},
): Promise<Signer> {
  const { privateKeyPath } = keyFilePaths(dir, name);
  const privateKey = await readPrivateKeyFile(privateKeyPath);
  return createLocalSigner({ ...signerOptions, privateKey, alg });
}
