// A party's key history in the embedded data directory, its rotation, and the signer that
// follows it (issue 18).
//
//   <dir>/<name>.jwks.json   every public key of the party with its validity (`nbf`/`exp`, epoch
//                            seconds): what verifiers trust, audit reads, the requester publishes
//   <dir>/<name>.pem         the first private key (PKCS#8, 0600)
//   <dir>/<name>.<n>.pem     the n-th, written by the (n-1)-th rotation; never overwritten
//
// A rotation publishes the next key with `nbf` a few seconds ahead, so every verifier (which
// re-reads the file within a second of a change) knows it before anything is signed with it,
// and gives the previous key its retirement `exp`. The key-ring signer signs with the key valid
// now, so every process switches at the same moment, `nbf`, whenever it read the file:
//
//   rotate           v2.nbf = rotate + activateAfter          v1.exp = v2.nbf + retirePreviousAfter
//   ──┬──────────────────┬───────────────────────────────────────┬───────────────────────────────
//     │ v1 signs         │ v2 signs                              │ v1 refused for tokens signed
//     │ v2 published     │ v1 still verifies what it signed      │ from now on (KEY_RETIRED);
//     │                  │ (queued tokens, old receipts)         │ what it signed before verifies
//
// The set is rewritten by rename, so readers never see half a file; a rotation interrupted
// after writing the private key leaves an unused key file and the old set, and can be re-run.
import type { KeyObject } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Algorithm, type Clock } from '@countersign/contracts';
import { ALGORITHMS, isAlgorithm } from './algorithms.ts';
import { SigningError } from './errors.ts';
import { publicJwkFromKey, readJwksFile } from './jwk.ts';
import {
  generateKeyFiles,
  generatePrivateKey,
  isErrno,
  keyFilePaths,
  readPrivateKeyFile,
  writeKeySetFile,
  writePrivateKeyFile,
} from './key-files.ts';
import { createLocalSigner, type LocalSignerRuntime } from './local-signer.ts';
import type { Jwks, PublicJwk, RotatingSigner, Signer } from './signer.ts';

export interface KeyRingOptions extends LocalSignerRuntime {
  readonly clock?: Clock;
  /** How often a signing process looks for a changed key set, at most (default 1000 ms). */
  readonly checkIntervalMs?: number;
}

interface RingKey {
  readonly signer: Signer;
  readonly nbf?: number;
  readonly exp?: number;
  readonly generation: number;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `<name>.pem` is generation 1, `<name>.<n>.pem` generation n. */
async function privateKeyFiles(
  dir: string,
  name: string,
): Promise<{ generation: number; path: string }[]> {
  keyFilePaths(dir, name); // validates the name
  const pattern = new RegExp(`^${escapeRegExp(name)}(?:\\.([1-9][0-9]{0,5}))?\\.pem$`);
  const out: { generation: number; path: string }[] = [];
  for (const file of await readdir(dir)) {
    const m = pattern.exec(file);
    if (m) out.push({ generation: m[1] === undefined ? 1 : Number(m[1]), path: join(dir, file) });
  }
  return out.sort((a, b) => a.generation - b.generation);
}

/** The alg a key's kid is computed with when no key set names it (EC: its curve). */
function defaultAlg(key: KeyObject, fallback: Algorithm): Algorithm {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return 'ES256';
  if (curve === 'secp384r1') return 'ES384';
  return ALGORITHMS[fallback].kty === 'RSA' ? fallback : 'RS256';
}

/** The key set file, or undefined when there is none yet. */
async function readKeySet(path: string): Promise<Jwks | undefined> {
  try {
    await stat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  return readJwksFile(path);
}

/** The keys this process can sign with: the set's keys whose private key file is here. */
async function loadRing(
  dir: string,
  name: string,
  fallbackAlg: Algorithm,
  runtime: LocalSignerRuntime,
): Promise<RingKey[]> {
  const set = await readKeySet(keyFilePaths(dir, name).jwksPath);
  const files = await privateKeyFiles(dir, name);
  if (!set) {
    // No key set (a key made before there was one): the first key, no validity.
    const first = files.find((f) => f.generation === 1);
    if (!first) return [];
    const privateKey = await readPrivateKeyFile(first.path);
    return [
      {
        signer: await createLocalSigner({ ...runtime, privateKey, alg: fallbackAlg }),
        generation: 1,
      },
    ];
  }
  const byKid = new Map(set.keys.map((k) => [k.kid, k]));
  const ring: RingKey[] = [];
  for (const file of files) {
    const privateKey = await readPrivateKeyFile(file.path);
    const kid = (await publicJwkFromKey(privateKey, defaultAlg(privateKey, fallbackAlg))).kid;
    const published = byKid.get(kid);
    if (!published) continue; // written by a rotation that did not finish: never signs
    const signer = await createLocalSigner({ ...runtime, privateKey, alg: published.alg });
    ring.push({
      signer,
      generation: file.generation,
      ...(published.nbf === undefined ? {} : { nbf: published.nbf }),
      ...(published.exp === undefined ? {} : { exp: published.exp }),
    });
  }
  return ring;
}

/** The key valid at `nowMs`: the newest `nbf` that has passed, among keys not yet retired. */
export function activeKey<K extends { nbf?: number; exp?: number; generation: number }>(
  ring: readonly K[],
  nowMs: number,
): K | undefined {
  let best: K | undefined;
  for (const k of ring) {
    if (k.nbf !== undefined && k.nbf * 1000 > nowMs) continue;
    if (k.exp !== undefined && k.exp * 1000 <= nowMs) continue;
    const later =
      !best ||
      (k.nbf ?? -Infinity) > (best.nbf ?? -Infinity) ||
      ((k.nbf ?? -Infinity) === (best.nbf ?? -Infinity) && k.generation > best.generation);
    if (later) best = k;
  }
  return best;
}

async function fileSignature(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * The signer of a key history: signs with the key valid now and re-reads the set (at most once
 * per `checkIntervalMs`, in the background, never on the signing path) when the file changed.
 */
export async function openKeyRing(
  dir: string,
  name: string,
  alg: Algorithm,
  options: KeyRingOptions = {},
): Promise<RotatingSigner> {
  const clock = options.clock ?? systemClock;
  const interval = options.checkIntervalMs ?? 1000;
  const runtime: LocalSignerRuntime =
    options.threadPool === undefined ? {} : { threadPool: options.threadPool };
  const { jwksPath } = keyFilePaths(dir, name);
  let signature = await fileSignature(jwksPath);
  let ring = await loadRing(dir, name, alg, runtime);
  if (ring.length === 0) {
    throw new SigningError('KEY_UNAVAILABLE', `no private key of ${name} in ${dir}`, {
      details: { name },
    });
  }
  let checkedAt = clock.now();
  let checking = false;

  const check = async (): Promise<void> => {
    checking = true;
    try {
      const now = await fileSignature(jwksPath);
      if (now === signature) return;
      const next = await loadRing(dir, name, alg, runtime);
      if (next.length > 0) {
        ring = next;
        signature = now;
      }
    } catch {
      // Half-written by something else, or unreadable: keep signing with what we have.
    } finally {
      checking = false;
    }
  };

  const current = (): Signer => {
    const now = clock.now();
    if (!checking && now - checkedAt >= interval) {
      checkedAt = now;
      void check();
    }
    const key = activeKey(ring, now);
    if (!key) {
      throw new SigningError(
        'KEY_UNAVAILABLE',
        `no key of ${name} is valid now: every key in ${jwksPath} is retired or not yet valid`,
        { details: { name } },
      );
    }
    return key.signer;
  };

  return {
    current,
    get alg() {
      return current().alg;
    },
    get kid() {
      return current().kid;
    },
    get publicJwk() {
      return current().publicJwk;
    },
    sign: (input) => current().sign(input),
  };
}

export interface RotateOptions {
  /** Alg of the new key (default: the alg of the newest key in the set). */
  readonly alg?: Algorithm;
  /** Epoch ms of the rotation. */
  readonly now: number;
  /** The new key signs from `now + activateAfterSec` (its `nbf`). */
  readonly activateAfterSec: number;
  /** The previous key is retired (`exp`) this long after the new one's `nbf`. */
  readonly retirePreviousAfterSec: number;
}

export interface Rotated {
  readonly kid: string;
  readonly alg: Algorithm;
  readonly generation: number;
  /** Epoch seconds from which the new key signs. */
  readonly nbf: number;
  readonly privateKeyPath: string;
  readonly jwksPath: string;
  /** Keys that got their retirement in this rotation. */
  readonly retired: readonly { readonly kid: string; readonly exp: number }[];
}

/**
 * Adds the next key to a key history: a new private key file (never overwriting one) and the
 * key set with the new key (`nbf`) and the previous one's retirement (`exp`).
 */
export async function rotateKeyFiles(
  dir: string,
  name: string,
  options: RotateOptions,
): Promise<Rotated> {
  const { jwksPath } = keyFilePaths(dir, name);
  const set = await readKeySet(jwksPath);
  if (!set || set.keys.length === 0) {
    throw new SigningError(
      'KEY_UNAVAILABLE',
      `no key history to rotate at ${jwksPath}: create the first key with \`countersign keys generate --name ${name}\` (or a first start)`,
      { details: { path: jwksPath } },
    );
  }
  for (const [what, v] of [
    ['activateAfterSec', options.activateAfterSec],
    ['retirePreviousAfterSec', options.retirePreviousAfterSec],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new SigningError('CONFIG_INVALID', `${what} must be a whole number ≥ 0`);
    }
  }
  const newest = set.keys.reduce((a, b) => ((b.nbf ?? 0) >= (a.nbf ?? 0) ? b : a));
  const alg = options.alg ?? newest.alg;
  if (!isAlgorithm(alg)) throw new SigningError('CONFIG_INVALID', `unsupported alg ${String(alg)}`);
  const generation =
    Math.max(0, ...(await privateKeyFiles(dir, name)).map((f) => f.generation)) + 1;
  const privateKeyPath = join(dir, `${name}.${generation}.pem`);
  const privateKey = generatePrivateKey(alg);
  // Exclusive create: a second rotation racing this one fails here (KEY_EXISTS), before the set.
  await writePrivateKeyFile(privateKeyPath, privateKey);
  const jwk = await publicJwkFromKey(privateKey, alg);
  const nbf = Math.floor(options.now / 1000) + options.activateAfterSec;
  const exp = nbf + options.retirePreviousAfterSec;
  const retired: { kid: string; exp: number }[] = [];
  const keys: PublicJwk[] = set.keys.map((k) => {
    if (k.exp !== undefined && k.exp <= exp) return k;
    retired.push({ kid: k.kid, exp });
    return { ...k, exp };
  });
  keys.push({ ...jwk, nbf });
  await writeKeySetFile(jwksPath, { keys });
  return { kid: jwk.kid, alg, generation, nbf, privateKeyPath, jwksPath, retired };
}

/**
 * The signer of a party's key history (embedded mode): generates the first key on first run,
 * then signs with the key valid now and follows rotations (`openKeyRing`). `alg` is the alg of a
 * new key; existing keys keep the alg their key set pins.
 */
export async function ensureLocalSigner(
  dir: string,
  name: string,
  alg: Algorithm,
  options: KeyRingOptions = {},
): Promise<Signer> {
  const { privateKeyPath } = keyFilePaths(dir, name);
  try {
    await stat(privateKeyPath);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    try {
      const runtime = options.threadPool === undefined ? {} : { threadPool: options.threadPool };
      await generateKeyFiles(dir, name, alg, runtime);
    } catch (genErr) {
      // Another process generated it between our stat and our write: use theirs.
      if ((genErr as SigningError | undefined)?.code !== 'KEY_EXISTS') throw genErr;
    }
  }
  return openKeyRing(dir, name, alg, options);
}
