// Public keys as JWK / JWKS, kid = RFC 7638 thumbprint. Also reading and merging trusted key sets
// (current + previous keys during a rotation).
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Algorithm } from '@countersign/contracts';
import { ALGORITHMS, isAlgorithm, keyMismatch } from './algorithms.ts';
import { SigningError } from './errors.ts';
import type { Jwks, PublicJwk, Signer } from './signer.ts';

/** The members RFC 7638 hashes: the required public members of the key type, nothing else. */
export type ThumbprintMembers =
  | { readonly kty: 'RSA'; readonly e: string; readonly n: string }
  | { readonly kty: 'EC'; readonly crv: string; readonly x: string; readonly y: string };

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url): the required members in lexicographic order,
 * no whitespace. Our members are base64url strings and curve names, which JSON.stringify writes
 * exactly as the RFC's canonical form (no characters to escape).
 */
export function jwkThumbprint(jwk: ThumbprintMembers): string {
  const canonical =
    jwk.kty === 'RSA'
      ? JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n })
      : JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** The public JWK of a (public or private) key pinned to `alg`; kid = RFC 7638 thumbprint. */
export function publicJwkFromKey(key: KeyObject, alg: Algorithm): Promise<PublicJwk> {
  // A Promise for API stability (callers await it); a misfit key rejects, never throws.
  return new Promise((resolve) => resolve(publicJwkOf(key, alg)));
}

function publicJwkOf(key: KeyObject, alg: Algorithm): PublicJwk {
  if (!isAlgorithm(alg)) throw new SigningError('CONFIG_INVALID', `unsupported alg ${String(alg)}`);
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const why = keyMismatch(pub, alg);
  if (why) throw new SigningError('KEY_MISMATCH', `key does not fit ${alg}: ${why}`);
  const jwk = pub.export({ format: 'jwk' });
  if (ALGORITHMS[alg].kty === 'RSA') {
    const base = { kty: 'RSA' as const, n: jwk.n!, e: jwk.e! };
    return { ...base, kid: jwkThumbprint(base), alg, use: 'sig' };
  }
  const crv = ALGORITHMS[alg].crv!;
  const base = { kty: 'EC' as const, crv, x: jwk.x!, y: jwk.y! };
  return { ...base, kid: jwkThumbprint(base), alg, use: 'sig' };
}

function isSigner(x: Signer | Jwks | PublicJwk): x is Signer {
  return typeof (x as Signer).sign === 'function';
}
function isJwks(x: Signer | Jwks | PublicJwk): x is Jwks {
  return Array.isArray((x as Jwks).keys);
}

function sameKey(a: PublicJwk, b: PublicJwk): boolean {
  return (
    a.kty === b.kty && a.alg === b.alg && a.n === b.n && a.e === b.e && a.x === b.x && a.y === b.y
  );
}

/**
 * Merges key sets; duplicates by kid are dropped. Two different keys under one kid are an error
 * (a kid must name exactly one key and one alg).
 */
export function mergeJwks(...sets: readonly Jwks[]): Jwks {
  const byKid = new Map<string, PublicJwk>();
  for (const set of sets) {
    for (const key of set.keys) {
      const seen = byKid.get(key.kid);
      if (seen && !sameKey(seen, key)) {
        throw new SigningError('KEY_MISMATCH', `two different keys share kid ${key.kid}`, {
          details: { kid: key.kid },
        });
      }
      if (!seen) byKid.set(key.kid, key);
    }
  }
  return { keys: [...byKid.values()] };
}

/** One JWKS from signers, key sets and single keys (e.g. current signer + previous JWKS). */
export function toJwks(sources: readonly (Signer | Jwks | PublicJwk)[]): Jwks {
  return mergeJwks(
    ...sources.map((s): Jwks => {
      if (isSigner(s)) return { keys: [s.publicJwk] };
      if (isJwks(s)) return s;
      return { keys: [s] };
    }),
  );
}

function field(obj: Record<string, unknown>, name: string, where: string): string {
  const v = obj[name];
  if (typeof v !== 'string' || v.length === 0) {
    throw new SigningError('CONFIG_INVALID', `${where}.${name}: must be a non-empty string`);
  }
  return v;
}

/**
 * Validates one untrusted public JWK: known alg, key type fits the alg, no private parts.
 * Returns our PublicJwk (unknown members dropped) and its KeyObject.
 */
export function parsePublicJwk(raw: unknown, where = 'jwk'): { jwk: PublicJwk; key: KeyObject } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SigningError('CONFIG_INVALID', `${where}: must be an object`);
  }
  const obj = raw as Record<string, unknown>;
  for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
    if (secret in obj) {
      throw new SigningError('CONFIG_INVALID', `${where}: contains private key member "${secret}"`);
    }
  }
  const kid = field(obj, 'kid', where);
  const alg = obj.alg;
  if (!isAlgorithm(alg)) {
    throw new SigningError(
      'CONFIG_INVALID',
      `${where}.alg: must be one of RS256, PS256, ES256, ES384`,
    );
  }
  if (obj.use !== undefined && obj.use !== 'sig') {
    throw new SigningError('CONFIG_INVALID', `${where}.use: must be "sig"`);
  }
  const spec = ALGORITHMS[alg];
  let jwk: PublicJwk;
  if (spec.kty === 'RSA') {
    if (obj.kty !== 'RSA')
      throw new SigningError('CONFIG_INVALID', `${where}.kty: ${alg} needs "RSA"`);
    jwk = {
      kty: 'RSA',
      kid,
      alg,
      use: 'sig',
      n: field(obj, 'n', where),
      e: field(obj, 'e', where),
    };
  } else {
    if (obj.kty !== 'EC')
      throw new SigningError('CONFIG_INVALID', `${where}.kty: ${alg} needs "EC"`);
    if (obj.crv !== spec.crv) {
      throw new SigningError('CONFIG_INVALID', `${where}.crv: ${alg} needs "${spec.crv}"`);
    }
    jwk = {
      kty: 'EC',
      kid,
      alg,
      use: 'sig',
      crv: spec.crv,
      x: field(obj, 'x', where),
      y: field(obj, 'y', where),
    };
  }
  let key: KeyObject;
  try {
    const { kid: _k, alg: _a, use: _u, ...material } = jwk;
    key = createPublicKey({ key: material, format: 'jwk' });
  } catch (cause) {
    throw new SigningError('CONFIG_INVALID', `${where} (kid ${kid}): not a valid public key`, {
      cause,
    });
  }
  const why = keyMismatch(key, alg);
  if (why)
    throw new SigningError('KEY_MISMATCH', `${where} (kid ${kid}): ${why}`, { details: { kid } });
  return { jwk, key };
}

/** Validates an untrusted JWKS object (e.g. parsed from a file or config). */
export function parseJwks(raw: unknown, where = 'jwks'): Jwks {
  if (typeof raw !== 'object' || raw === null || !Array.isArray((raw as { keys?: unknown }).keys)) {
    throw new SigningError('CONFIG_INVALID', `${where}: must be an object with a "keys" array`);
  }
  const keys = (raw as { keys: unknown[] }).keys.map(
    (k, i) => parsePublicJwk(k, `${where}.keys[${i}]`).jwk,
  );
  return mergeJwks({ keys });
}

/** Reads and validates a JWKS file. */
export async function readJwksFile(path: string): Promise<Jwks> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new SigningError('KEY_UNAVAILABLE', `cannot read JWKS file ${path}`, { cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new SigningError('CONFIG_INVALID', `JWKS file ${path} is not valid JSON`, { cause });
  }
  return parseJwks(raw, path);
}
