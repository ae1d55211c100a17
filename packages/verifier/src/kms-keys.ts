// Public keys of KMS keys and aliases (GetPublicKey, then cached; zero KMS calls per token).
//
// A key id or ARN names fixed key material: it is read once and again after the TTL (1 h) only
// to notice a deleted or disabled key; an unknown kid never makes it read again. An alias can
// move, so it is re-resolved (GetPublicKey on the alias returns the target's key and id) on a
// schedule (5 min) and, for an unknown kid, at most once per 5 s: a token signed after the last
// read waits for the next one, so a new target verifies from its first token. When it moved, the
// previous target stays trusted for what it signed up to `previousKeyTrustSec` (330 s: max token
// lifetime + skew) after this process saw the move: tokens still queued at the switch verify.
// A process that starts after the move never saw the previous target: list it explicitly
// (`{ kms: <old key ARN>, exp }`), as the CDK stack does.
//
// GetPublicKey on an alias is authorized against the target key's ARN (IAM cannot name an alias
// for key use), so the grants are kms:GetPublicKey on every key version: no DescribeKey or
// ListAliases (which cannot be scoped to a resource) is needed.
import { createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  CountersignError,
  DEFAULT_PREVIOUS_KEY_TRUST_SEC,
  isKmsAlias,
  KEY_REREAD_MIN_INTERVAL_MS,
  systemClock,
  UNKNOWN_KID_REREAD_MS,
  type Algorithm,
  type Clock,
} from '@countersign/contracts';
import { ALGORITHMS, isAlgorithm, keyMismatch, publicJwkFromKey } from '@countersign/signing';
import { cachedResolver, type CachedKeys } from './key-cache.ts';
import { combineKeys, keyEntry, type KeyEntry, type KeyResolver } from './key-resolvers.ts';

/** A KMS key or alias to trust; RSA keys verify RS256 unless `alg` says PS256. */
export type KmsKeyRef =
  | string
  | {
      readonly keyId: string;
      readonly alg?: Algorithm;
      /** Validity of this key (epoch seconds), checked against each token's iat. */
      readonly nbf?: number;
      readonly exp?: number;
      /** Re-read every N seconds (default: ttlMs of the options). */
      readonly refreshSec?: number;
      /** Alias: at most one re-read per N seconds for unknown kids (default min(TTL, 5 s)). */
      readonly minRefreshSec?: number;
      /** Alias: how long a previous target keeps verifying after a move (default 330 s). */
      readonly previousKeyTrustSec?: number;
    };

const SPEC_ALG: Readonly<Record<string, Algorithm>> = {
  ECC_NIST_P256: 'ES256',
  ECC_NIST_P384: 'ES384',
  RSA_2048: 'RS256',
  RSA_3072: 'RS256',
  RSA_4096: 'RS256',
};

/** Errors that mean the key is gone for good (deleted, disabled, pending deletion). */
const GONE = new Set(['NotFoundException', 'DisabledException', 'KMSInvalidStateException']);
const isGone = (err: unknown) => GONE.has((err as { name?: string } | undefined)?.name ?? '');

interface Fetched {
  /** The key's id as KMS names it (for an alias: its current target). */
  readonly targetKeyId: string;
  readonly entry: KeyEntry;
}

type Ref = Exclude<KmsKeyRef, string>;

/** GetPublicKey, checked: a signing key whose spec fits the alg. */
async function fetchPublicKey(
  client: Pick<KMSClient, 'send'>,
  ref: Ref,
  issuer: string | undefined,
): Promise<Fetched> {
  const { keyId } = ref;
  let out;
  try {
    out = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
  } catch (cause) {
    throw new CountersignError('KEY_UNAVAILABLE', `KMS key ${keyId}: GetPublicKey failed`, {
      cause,
      details: { keyId },
    });
  }
  const keySpec: string | undefined = out.KeySpec ?? out.CustomerMasterKeySpec;
  const alg = ref.alg ?? SPEC_ALG[keySpec ?? ''];
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
  if (why) {
    throw new CountersignError('KEY_MISMATCH', `KMS key ${keyId}: ${why}`, { details: { keyId } });
  }
  const { kid } = await publicJwkFromKey(key, alg);
  return {
    targetKeyId: out.KeyId ?? keyId,
    entry: keyEntry(
      { kid, alg, key },
      {
        issuer,
        ...(ref.nbf === undefined ? {} : { nbf: ref.nbf }),
        ...(ref.exp === undefined ? {} : { exp: ref.exp }),
      },
    ),
  };
}

/** The entries of one key id: fixed material; dropped when KMS says the key is gone. */
function keyLoader(
  client: Pick<KMSClient, 'send'>,
  ref: Ref,
  issuer: string | undefined,
): () => Promise<readonly KeyEntry[]> {
  let loadedOnce = false;
  return async () => {
    try {
      const { entry } = await fetchPublicKey(client, ref, issuer);
      loadedOnce = true;
      return [entry];
    } catch (err) {
      // Deleted or disabled after we trusted it: stop trusting it. A transient failure (or
      // the first load) throws, and the cache keeps what it had.
      if (loadedOnce && isGone((err as { cause?: unknown }).cause)) return [];
      throw err;
    }
  };
}

/** The entries of an alias: its current target, and previous targets until their retirement. */
function aliasLoader(
  client: Pick<KMSClient, 'send'>,
  ref: Ref,
  issuer: string | undefined,
  clock: Clock,
): () => Promise<readonly KeyEntry[]> {
  const trustSec = ref.previousKeyTrustSec ?? DEFAULT_PREVIOUS_KEY_TRUST_SEC;
  let current: Fetched | undefined;
  const previous = new Map<string, KeyEntry>(); // by target key id
  const retire = (f: Fetched) => {
    const until = Math.floor(clock.now() / 1000) + trustSec;
    const exp = f.entry.exp === undefined ? until : Math.min(f.entry.exp, until);
    previous.set(f.targetKeyId, { ...f.entry, exp });
  };
  return async () => {
    let next: Fetched | undefined;
    try {
      next = await fetchPublicKey(client, ref, issuer);
    } catch (err) {
      // The alias was deleted: its target becomes a previous one; a first load throws.
      if (!current || !isGone((err as { cause?: unknown }).cause)) throw err;
    }
    if (current && current.targetKeyId !== next?.targetKeyId) retire(current);
    current = next;
    if (next) previous.delete(next.targetKeyId); // moved back to an earlier target
    return [...(next ? [next.entry] : []), ...previous.values()];
  };
}

/**
 * Public keys of KMS keys and aliases, fetched with GetPublicKey at first use and cached.
 * `kmsCalls` counts GetPublicKey calls.
 */
export function kmsPublicKeys(options: {
  readonly client: Pick<KMSClient, 'send'>;
  readonly keyIds: readonly KmsKeyRef[];
  readonly issuer?: string;
  /** Default re-read interval: 1 h for a key, 5 min for an alias. */
  readonly ttlMs?: number;
  /**
   * At most one GetPublicKey per key or alias per interval, for unknown kids (aliases) and after
   * failures (default: min(TTL, 5 s) for an alias, min(TTL, 60 s) for a key).
   */
  readonly minRefreshIntervalMs?: number;
  readonly clock?: Clock;
}): KeyResolver & { readonly kmsCalls: number; list(): Promise<readonly KeyEntry[]> } {
  const clock = options.clock ?? systemClock;
  let kmsCalls = 0;
  const client: Pick<KMSClient, 'send'> = {
    send: ((command: GetPublicKeyCommand) => {
      kmsCalls++;
      return options.client.send(command);
    }) as Pick<KMSClient, 'send'>['send'],
  };
  const perRef: CachedKeys[] = options.keyIds.map((raw) => {
    const ref: Ref = typeof raw === 'string' ? { keyId: raw } : raw;
    const alias = isKmsAlias(ref.keyId);
    const ttlMs =
      ref.refreshSec !== undefined
        ? ref.refreshSec * 1000
        : (options.ttlMs ?? (alias ? 300_000 : 3_600_000));
    return cachedResolver(
      alias
        ? aliasLoader(client, ref, options.issuer, clock)
        : keyLoader(client, ref, options.issuer),
      {
        ttlMs,
        minRefreshIntervalMs:
          ref.minRefreshSec !== undefined
            ? ref.minRefreshSec * 1000
            : (options.minRefreshIntervalMs ??
              Math.min(ttlMs, alias ? UNKNOWN_KID_REREAD_MS : KEY_REREAD_MIN_INTERVAL_MS)),
        // A key id's material never changes: an unknown kid cannot be one of its keys.
        refreshOnUnknownKid: alias,
        clock,
      },
    );
  });
  const combined = combineKeys(...perRef);
  return {
    resolve(kid, hint) {
      // Every key and alias loads at first use and refreshes on its own schedule, whichever
      // of them the tokens name.
      for (const r of perRef) r.touch();
      return combined.resolve(kid, hint);
    },
    peek(kid) {
      for (const r of perRef) r.touch();
      return combined.peek!(kid);
    },
    list: () => combined.list!(),
    get kmsCalls() {
      return kmsCalls;
    },
  };
}
