// Key resolvers: where verification keys come from. Keys are parsed once into KeyObjects and
// cached by kid; resolving a kid on the hot path is a Map lookup (zero KMS or file reads per
// token). An unknown kid triggers at most one refresh per `minRefreshIntervalMs` (penalty box),
// so a flood of tokens with made-up kids cannot hammer KMS.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { CountersignError, systemClock, type Algorithm, type Clock } from '@countersign/contracts';
import {
  type PublicJwk,
  ALGORITHMS,
  isAlgorithm,
  keyMismatch,
  parseJwks,
  parsePublicJwk,
  publicJwkFromKey,
  readJwksFile,
} from '@countersign/signing';
import { thumbprintMismatch } from './thumbprint.ts';

export interface KeyEntry {
  readonly kid: string;
  /** The one alg this key verifies. */
  readonly alg: Algorithm;
  readonly key: KeyObject;
  /** When set, the key only verifies tokens whose `iss` equals this. */
  readonly issuer?: string;
}

export interface KeyResolver {
  resolve(kid: string): Promise<KeyEntry | undefined>;
}

/** Keys from a JWKS object (validated: known alg, key fits alg, no private members). */
export function staticKeys(
  jwks: { readonly keys: readonly object[] },
  options: { readonly issuer?: string } = {},
): KeyResolver {
  const parsed = parseJwks(jwks);
  const byKid = new Map<string, KeyEntry>();
  for (const jwk of parsed.keys) {
    const { key } = parsePublicJwk(jwk);
    byKid.set(jwk.kid, entry(checkedKid(jwk), jwk.alg, key, options.issuer));
  }
  return { resolve: (kid) => Promise.resolve(byKid.get(kid)) };
}

/** A kid in the form of a thumbprint must be its own key's (else it shadows another key). */
function checkedKid(jwk: PublicJwk): string {
  const why = thumbprintMismatch(jwk.kid, jwk);
  if (why) throw new CountersignError('KEY_MISMATCH', why, { details: { kid: jwk.kid } });
  return jwk.kid;
}

function entry(kid: string, alg: Algorithm, key: KeyObject, issuer: string | undefined): KeyEntry {
  return issuer === undefined ? { kid, alg, key } : { kid, alg, key, issuer };
}

interface CacheOptions {
  readonly ttlMs: number;
  readonly minRefreshIntervalMs: number;
  readonly clock: Clock;
}

/**
 * A cached key set with TTL, single-flight refresh and a penalty box. After the TTL the current
 * set keeps serving while one background refresh runs (stale-while-revalidate).
 */
function cachedResolver(
  load: () => Promise<readonly KeyEntry[]>,
  { ttlMs, minRefreshIntervalMs, clock }: CacheOptions,
): KeyResolver {
  let byKid: Map<string, KeyEntry> | undefined;
  let loadedAt = 0;
  let lastAttemptAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;
  let lastError: unknown;

  const refresh = (): Promise<void> => {
    inflight ??= (async () => {
      lastAttemptAt = clock.now();
      try {
        const entries = await load();
        byKid = new Map(entries.map((e) => [e.kid, e]));
        loadedAt = clock.now();
        lastError = undefined;
      } catch (err) {
        lastError = err;
        throw err;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
  const mayRefresh = (): boolean => clock.now() - lastAttemptAt >= minRefreshIntervalMs;

  return {
    async resolve(kid: string): Promise<KeyEntry | undefined> {
      if (!byKid) {
        if (!mayRefresh() && !inflight) {
          throw new CountersignError('KEY_UNAVAILABLE', 'verification keys could not be loaded', {
            cause: lastError,
          });
        }
        await refresh();
      } else if (clock.now() - loadedAt >= ttlMs && mayRefresh()) {
        void refresh().catch(() => undefined);
      }
      const hit = byKid?.get(kid);
      if (hit || !mayRefresh()) return hit;
      try {
        await refresh();
      } catch {
        return undefined; // keep serving the keys we have; the unknown kid stays unknown
      }
      return byKid?.get(kid);
    },
  };
}

/** Keys from a JWKS file, re-read after `ttlMs` (default 60 s) or for an unknown kid. */
export function jwksFile(
  path: string,
  options: {
    readonly issuer?: string;
    readonly ttlMs?: number;
    readonly minRefreshIntervalMs?: number;
    readonly clock?: Clock;
  } = {},
): KeyResolver {
  return cachedResolver(
    async () => {
      const jwks = await readJwksFile(path);
      return jwks.keys.map((jwk) => {
        const { key } = parsePublicJwk(jwk, path);
        return entry(checkedKid(jwk), jwk.alg, key, options.issuer);
      });
    },
    {
      ttlMs: options.ttlMs ?? 60_000,
      minRefreshIntervalMs: options.minRefreshIntervalMs ?? 10_000,
      clock: options.clock ?? systemClock,
    },
  );
}

/** A KMS key to trust; RSA keys verify RS256 unless `alg` says PS256. */
export type KmsKeyRef = string | { readonly keyId: string; readonly alg: Algorithm };

const SPEC_ALG: Readonly<Record<string, Algorithm>> = {
  ECC_NIST_P256: 'ES256',
  ECC_NIST_P384: 'ES384',
  RSA_2048: 'RS256',
  RSA_3072: 'RS256',
  RSA_4096: 'RS256',
};

const GONE = new Set(['NotFoundException', 'DisabledException', 'KMSInvalidStateException']);

/**
 * Public keys of KMS keys, fetched with GetPublicKey at first use and cached (default TTL 1 h;
 * KMS asymmetric keys never change, but an alias may move). `kmsCalls` counts GetPublicKey calls.
 */
export function kmsPublicKeys(options: {
  readonly client: Pick<KMSClient, 'send'>;
  readonly keyIds: readonly KmsKeyRef[];
  readonly issuer?: string;
  readonly ttlMs?: number;
  readonly minRefreshIntervalMs?: number;
  readonly clock?: Clock;
}): KeyResolver & { readonly kmsCalls: number } {
  const { client, issuer } = options;
  let kmsCalls = 0;
  const known = new Map<string, KeyEntry>(); // by keyId: survives a failed refresh of one key

  const loadOne = async (ref: KmsKeyRef): Promise<KeyEntry> => {
    const keyId = typeof ref === 'string' ? ref : ref.keyId;
    kmsCalls++;
    let out;
    try {
      out = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
    } catch (cause) {
      // A deleted or disabled key stops being trusted; a transient failure keeps the cached one.
      if (GONE.has((cause as { name?: string } | undefined)?.name ?? '')) known.delete(keyId);
      throw new CountersignError('KEY_UNAVAILABLE', `KMS key ${keyId}: GetPublicKey failed`, {
        cause,
        details: { keyId },
      });
    }
    const keySpec: string | undefined = out.KeySpec ?? out.CustomerMasterKeySpec;
    const alg = typeof ref === 'string' ? SPEC_ALG[keySpec ?? ''] : ref.alg;
    if (out.KeyUsage !== 'SIGN_VERIFY' || !alg || !isAlgorithm(alg)) {
      throw new CountersignError(
        'KEY_MISMATCH',
        `KMS key ${keyId}: usage ${out.KeyUsage ?? 'missing'} / spec ${keySpec ?? 'missing'} is not a supported signing key`,
        { details: { keyId } },
      );
    }
    if (keySpec && !ALGORITHMS[alg].kmsKeySpecs.includes(keySpec)) {
      throw new CountersignError(
        'KEY_MISMATCH',
        `KMS key ${keyId}: spec ${keySpec} cannot verify ${alg}`,
        {
          details: { keyId, alg },
        },
      );
    }
    if (!out.PublicKey) {
      throw new CountersignError('KEY_UNAVAILABLE', `KMS key ${keyId}: no public key returned`);
    }
    const key = createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
    const why = keyMismatch(key, alg);
    if (why)
      throw new CountersignError('KEY_MISMATCH', `KMS key ${keyId}: ${why}`, {
        details: { keyId },
      });
    const jwk = await publicJwkFromKey(key, alg);
    const e = entry(jwk.kid, alg, key, issuer);
    known.set(keyId, e);
    return e;
  };

  const resolver = cachedResolver(
    async () => {
      const results = await Promise.allSettled(options.keyIds.map(loadOne));
      const entries: KeyEntry[] = [];
      results.forEach((r, i) => {
        const ref = options.keyIds[i]!;
        const fallback = known.get(typeof ref === 'string' ? ref : ref.keyId);
        if (r.status === 'fulfilled') entries.push(r.value);
        else if (fallback) entries.push(fallback);
      });
      const firstFailure = results.find((r) => r.status === 'rejected');
      if (entries.length === 0 && firstFailure) throw firstFailure.reason;
      return entries;
    },
    {
      ttlMs: options.ttlMs ?? 3_600_000,
      minRefreshIntervalMs: options.minRefreshIntervalMs ?? 60_000,
      clock: options.clock ?? systemClock,
    },
  );
  return {
    resolve: (kid) => resolver.resolve(kid),
    get kmsCalls() {
      return kmsCalls;
    },
  };
}

/** Tries resolvers in order; the first that knows the kid wins. */
export function combineKeys(...resolvers: readonly KeyResolver[]): KeyResolver {
  return {
    async resolve(kid: string): Promise<KeyEntry | undefined> {
      for (const r of resolvers) {
        const hit = await r.resolve(kid);
        if (hit) return hit;
      }
      return undefined;
    },
  };
}
