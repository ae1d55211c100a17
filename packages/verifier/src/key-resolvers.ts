// Key resolvers: where verification keys come from. Keys are parsed once into KeyObjects and
// cached by kid; resolving a kid on the hot path is a Map lookup (zero KMS, file or HTTP calls
// per token). Sources that load (a JWKS file here; KMS in kms-keys.ts, a URL in jwks-url.ts)
// share one cache (key-cache.ts): TTL, stale-while-revalidate, and at most one load per interval
// for unknown kids, so a flood of made-up kids cannot turn into a storm of reads.
import { stat } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { CountersignError, systemClock, type Algorithm, type Clock } from '@countersign/contracts';
import { parseJwks, parsePublicJwk, readJwksFile, type PublicJwk } from '@countersign/signing';
import { cachedResolver, type CachedKeys } from './key-cache.ts';
import { thumbprintMismatch } from './thumbprint.ts';

export interface KeyEntry {
  readonly kid: string;
  /** The one alg this key verifies. */
  readonly alg: Algorithm;
  readonly key: KeyObject;
  /** When set, the key only verifies tokens whose `iss` equals this. */
  readonly issuer?: string;
  /** Validity (epoch seconds): the key verifies tokens signed (`iat`) from `nbf` (− skew)… */
  readonly nbf?: number;
  /** …to its retirement: a token signed at or after `exp` is KEY_RETIRED. */
  readonly exp?: number;
}

/** What a resolver may know of the token whose kid it resolves. */
export interface ResolveHint {
  /**
   * The latest time (ms, our clock) the token may have been signed, from its unverified iat:
   * a source that reloaded after it and lacks the kid does not know it; one that last loaded
   * before it may wait for its next load. Absent: now.
   */
  readonly signedAtMs?: number;
}

/** A hint that takes what each source has loaded as final (never waits for a reload). */
const SETTLED: ResolveHint = { signedAtMs: Number.NEGATIVE_INFINITY };

export interface KeyResolver {
  resolve(kid: string, hint?: ResolveHint): Promise<KeyEntry | undefined>;
  /**
   * What `resolve` would give now without loading anything: the entry of a kid already loaded,
   * else undefined (then the verifier calls `resolve`). Optional; it lets a verify finish
   * without a promise hop.
   */
  peek?(kid: string): KeyEntry | undefined;
  /** Every key trusted now, loading them if needed (publishing a JWKS, preflight checks). */
  list?(): Promise<readonly KeyEntry[]>;
}

/** A kid in the form of a thumbprint must be its own key's (else it shadows another key). */
function checkedKid(jwk: PublicJwk): string {
  const why = thumbprintMismatch(jwk.kid, jwk);
  if (why) throw new CountersignError('KEY_MISMATCH', why, { details: { kid: jwk.kid } });
  return jwk.kid;
}

/** A KeyEntry with the optional issuer binding and validity (absent members stay absent). */
export function keyEntry(
  base: { readonly kid: string; readonly alg: Algorithm; readonly key: KeyObject },
  extra: { readonly issuer?: string | undefined; readonly nbf?: number; readonly exp?: number },
): KeyEntry {
  return {
    ...base,
    ...(extra.issuer === undefined ? {} : { issuer: extra.issuer }),
    ...(extra.nbf === undefined ? {} : { nbf: extra.nbf }),
    ...(extra.exp === undefined ? {} : { exp: extra.exp }),
  };
}

/** Entries of a validated JWKS: each kid checked, each key with the validity its JWK carries. */
export function jwksEntries(
  keys: readonly PublicJwk[],
  issuer: string | undefined,
  where?: string,
): KeyEntry[] {
  return keys.map((jwk) => {
    const { key } = parsePublicJwk(jwk, where);
    return keyEntry({ kid: checkedKid(jwk), alg: jwk.alg, key }, { ...jwk, issuer });
  });
}

/** Keys from a JWKS object (validated: known alg, key fits alg, no private members). */
export function staticKeys(
  jwks: { readonly keys: readonly object[] },
  options: { readonly issuer?: string } = {},
): KeyResolver {
  const entries = jwksEntries(parseJwks(jwks).keys, options.issuer);
  const byKid = new Map(entries.map((e) => [e.kid, e]));
  return {
    resolve: (kid) => Promise.resolve(byKid.get(kid)),
    peek: (kid) => byKid.get(kid),
    list: () => Promise.resolve(entries),
  };
}

/** What changes when a file is rewritten (a rename gives a new inode). */
async function fileSignature(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (cause) {
    throw new CountersignError('KEY_UNAVAILABLE', `cannot read JWKS file ${path}`, { cause });
  }
}

/**
 * Keys from a JWKS file (a key history with validity, e.g. after `countersign keys rotate`).
 * The file is looked at (one `stat`) at most every `ttlMs` (default 1 s) and, for an unknown
 * kid, at most every `minRefreshIntervalMs` (default 1 s); it is re-read only when it changed.
 */
export function jwksFile(
  path: string,
  options: {
    readonly issuer?: string;
    readonly ttlMs?: number;
    readonly minRefreshIntervalMs?: number;
    readonly clock?: Clock;
  } = {},
): CachedKeys {
  let seen: { signature: string; entries: readonly KeyEntry[] } | undefined;
  return cachedResolver(
    async () => {
      const signature = await fileSignature(path);
      if (seen?.signature === signature) return seen.entries;
      const entries = jwksEntries((await readJwksFile(path)).keys, options.issuer, path);
      seen = { signature, entries };
      return entries;
    },
    {
      ttlMs: options.ttlMs ?? 1000,
      minRefreshIntervalMs: options.minRefreshIntervalMs ?? 1000,
      clock: options.clock ?? systemClock,
    },
  );
}

/**
 * Tries resolvers in order; the first that knows the kid wins. A source that cannot load its
 * keys does not stop the others: a kid another source knows still verifies. A kid nobody knows
 * while a source is unavailable is KEY_UNAVAILABLE (it may be that source's, so the message is
 * retried), not UNKNOWN_KID. A kid no source has loaded is then asked of all sources at once, so
 * that each may wait for its next load in parallel (one interval, not one per source), and a
 * kid of a later source never waits on an earlier one's reload.
 */
export function combineKeys(...resolvers: readonly KeyResolver[]): KeyResolver {
  return {
    async resolve(kid: string, hint?: ResolveHint): Promise<KeyEntry | undefined> {
      let failure: unknown;
      const answered: KeyResolver[] = [];
      for (const r of resolvers) {
        try {
          const hit = await r.resolve(kid, SETTLED);
          if (hit) return hit;
          answered.push(r);
        } catch (err) {
          failure ??= err;
        }
      }
      const answers = await Promise.allSettled(answered.map((r) => r.resolve(kid, hint)));
      for (const a of answers) {
        if (a.status === 'fulfilled' && a.value) return a.value;
        if (a.status === 'rejected') failure ??= a.reason;
      }
      if (failure !== undefined) throw failure as Error;
      return undefined;
    },
    // Only the first source's answer is certain without loading: a later one's hit may be
    // shadowed by an earlier source that has not loaded yet.
    peek: (kid) => resolvers[0]?.peek?.(kid),
    async list() {
      const all = await Promise.all(resolvers.map((r) => r.list?.() ?? Promise.resolve([])));
      const seen = new Set<string>();
      return all.flat().filter((e) => !seen.has(e.kid) && seen.add(e.kid));
    },
  };
}
