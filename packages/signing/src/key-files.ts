// Local key files for the embedded mode: `<dir>/<name>.pem` (PKCS#8, 0600, in a 0700 dir) and
// `<dir>/<name>.jwks.json` (the public JWKS to hand to verifiers). Never overwrites a key.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Algorithm } from '@countersign/contracts';
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

function generatePrivateKey(alg: Algorithm): KeyObject {
  const spec = ALGORITHMS[alg];
  return spec.kty === 'RSA'
    ? generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 }).privateKey
    : generateKeyPairSync('ec', { namedCurve: spec.namedCurve! }).privateKey;
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
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
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const signer = await createLocalSigner({ ...signerOptions, privateKey, alg });
  try {
    // 'wx' = create exclusively: two processes racing on first run cannot both write a key.
    await writeFile(paths.privateKeyPath, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if (isErrno(err, 'EEXIST')) {
      throw new SigningError(
        'KEY_EXISTS',
        `refusing to overwrite existing key ${paths.privateKeyPath}`,
        {
          details: { path: paths.privateKeyPath },
        },
      );
    }
    throw err;
  }
  const jwks: Jwks = { keys: [signer.publicJwk] };
  await writeFile(paths.jwksPath, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o644 });
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
  let pem: string;
  try {
    const info = await stat(privateKeyPath);
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new SigningError(
        'KEY_UNAVAILABLE',
        `key file ${privateKeyPath} is accessible by group or others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
        { details: { path: privateKeyPath } },
      );
    }
    pem = await readFile(privateKeyPath, 'utf8');
  } catch (cause) {
    if (cause instanceof SigningError) throw cause;
    throw new SigningError('KEY_UNAVAILABLE', `cannot read key file ${privateKeyPath}`, {
      cause,
      details: { path: privateKeyPath },
    });
  }
  return createLocalSigner({ ...signerOptions, privateKey: pem, alg });
}

/** Loads the key, or generates it on first run (embedded mode). */
export async function ensureLocalSigner(
  dir: string,
  name: string,
  alg: Algorithm,
  signerOptions: LocalSignerRuntime = {},
): Promise<Signer> {
  const { privateKeyPath } = keyFilePaths(dir, name);
  try {
    await stat(privateKeyPath);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    try {
      return (await generateKeyFiles(dir, name, alg, signerOptions)).signer;
    } catch (genErr) {
      // Another process generated it between our stat and our write: use theirs.
      if ((genErr as SigningError | undefined)?.code !== 'KEY_EXISTS') throw genErr;
    }
  }
  return loadLocalSigner(dir, name, alg, signerOptions);
}
