// Key sets from configuration (issue 18): one resolver for a party's `KeySet` (KMS keys and
// aliases, JWKS files, JWKS URLs, inline JWKS), every key bound to that party's issuer.
//
// One kid names one key of one party. The sets known at start (inline, files that exist) are
// checked then (policy-keys.ts: a ConfigError). Keys that only appear when loaded (KMS, URLs,
// files written later) are checked as they are used: the first party a kid was seen for keeps
// it, and a later source offering that kid for another party or another key is not trusted for
// it (reported through `onConflict`).
import { existsSync } from 'node:fs';
import type { KMSClient } from '@aws-sdk/client-kms';
import {
  ConfigError,
  EmbeddedKeyNames,
  ErrorCodes,
  embeddedPaths,
  type Clock,
  type CountersignConfig,
  type KeySet,
} from '@countersign/contracts';
import { keyFilePaths, publicJwkFromKey, type Jwks } from '@countersign/signing';
import { jwksUrl } from './jwks-url.ts';
import {
  jwksFile,
  staticKeys,
  combineKeys,
  type KeyEntry,
  type KeyResolver,
} from './key-resolvers.ts';
import { kmsPublicKeys } from './kms-keys.ts';

/** A kid a source offered for another party or another key than the one that holds it. */
export interface KidConflict {
  readonly code: typeof ErrorCodes.KID_CONFLICT;
  readonly kid: string;
  /** The source whose key is refused for this kid. */
  readonly where: string;
  /** The party that keeps the kid (undefined: a key bound to no issuer). */
  readonly owner: string | undefined;
  /** Where the kept key is configured. */
  readonly ownerWhere: string;
  readonly message: string;
}

/** Which party each kid belongs to, across every source of one verifier. */
export interface KidOwners {
  /** True when `entry` may be used: its kid is new, or already this party's same key. */
  admit(entry: KeyEntry, where: string): boolean;
}

/** Each conflict is reported once per (kid, source). */
export function createKidOwners(
  onConflict: (conflict: KidConflict) => void = () => undefined,
): KidOwners {
  const owners = new Map<string, { entry: KeyEntry; where: string }>();
  const reported = new Set<string>();
  return {
    admit(entry, where) {
      const had = owners.get(entry.kid);
      if (!had) {
        owners.set(entry.kid, { entry, where });
        return true;
      }
      if (had.entry === entry) return true;
      if (had.entry.issuer === entry.issuer && had.entry.key.equals(entry.key)) {
        owners.set(entry.kid, { entry, where }); // reloaded: the same key
        return true;
      }
      const key = `${entry.kid}\n${where}`;
      if (!reported.has(key)) {
        reported.add(key);
        onConflict({
          code: ErrorCodes.KID_CONFLICT,
          kid: entry.kid,
          where,
          owner: had.entry.issuer,
          ownerWhere: had.where,
          message: `kid ${entry.kid} from ${where} is already trusted ${had.entry.issuer === entry.issuer ? 'for another key' : `for ${had.entry.issuer ?? 'another party'}`} (${had.where}): not trusted from ${where}`,
        });
      }
      return false;
    },
  };
}

/** A resolver whose keys pass `owners` before they verify anything. */
export function guardedKeys(resolver: KeyResolver, owners: KidOwners, where: string): KeyResolver {
  return {
    async resolve(kid, hint) {
      const hit = await resolver.resolve(kid, hint);
      return hit && owners.admit(hit, where) ? hit : undefined;
    },
    peek(kid) {
      const hit = resolver.peek?.(kid);
      return hit && owners.admit(hit, where) ? hit : undefined;
    },
    async list() {
      return ((await resolver.list?.()) ?? []).filter((e) => owners.admit(e, where));
    },
  };
}

export interface KeySetOptions {
  /** The party these keys may sign for (`iss`); undefined: any trusted issuer. */
  readonly issuer?: string;
  /** Where the set is configured, e.g. `COUNTERSIGN_POLICIES[1].keys` (named in errors). */
  readonly where: string;
  readonly clock?: Clock;
  /** The KMS client, created when a KMS source is configured. */
  readonly kms?: () => Pick<KMSClient, 'send'>;
  readonly fetch?: typeof fetch;
  readonly owners?: KidOwners;
}

/** One resolver for a key set; sources are tried in their configured order. */
export function keySetResolver(set: KeySet, options: KeySetOptions): KeyResolver {
  const { issuer, clock } = options;
  const bound = {
    ...(issuer === undefined ? {} : { issuer }),
    ...(clock === undefined ? {} : { clock }),
  };
  const resolvers = set.map((source, i): KeyResolver => {
    const where = `${options.where}[${i}]`;
    let r: KeyResolver;
    if ('kms' in source) {
      if (!options.kms) {
        throw new ConfigError([{ path: where, message: 'a KMS key needs a KMS client' }]);
      }
      const { kms: keyId, refreshSec, ...rest } = source;
      r = kmsPublicKeys({
        client: options.kms(),
        keyIds: [{ keyId, ...rest, ...(refreshSec === undefined ? {} : { refreshSec }) }],
        ...bound,
      });
    } else if ('jwksFile' in source) {
      r = jwksFile(source.jwksFile, bound);
    } else if ('jwksUrl' in source) {
      r = jwksUrl(source.jwksUrl, {
        ...bound,
        ...(options.fetch ? { fetch: options.fetch } : {}),
        ...(source.ttlSec === undefined ? {} : { ttlMs: source.ttlSec * 1000 }),
        ...(source.minRefreshSec === undefined
          ? {}
          : { minRefreshIntervalMs: source.minRefreshSec * 1000 }),
        ...(source.timeoutMs === undefined ? {} : { timeoutMs: source.timeoutMs }),
        ...(source.maxBytes === undefined ? {} : { maxBytes: source.maxBytes }),
      });
    } else {
      try {
        r = staticKeys(source.jwks, bound);
      } catch (err) {
        throw new ConfigError([{ path: `${where}.jwks`, message: (err as Error).message }]);
      }
    }
    return options.owners ? guardedKeys(r, options.owners, where) : r;
  });
  return resolvers.length === 1 ? resolvers[0]! : combineKeys(...resolvers);
}

/**
 * The key set of this deployment's requester or gateway: `publicKeys` when configured, else its
 * KMS key (aws; PS256 pinned when configured so), else its key history in the data directory.
 */
export function partyKeySet(
  config: CountersignConfig,
  party: 'requester' | 'gateway',
): KeySet | undefined {
  const c = config[party];
  if (c.publicKeys) return c.publicKeys;
  if (config.mode === 'aws') {
    if (!c.kmsKeyId) return undefined;
    return [{ kms: c.kmsKeyId, ...(c.alg === 'PS256' ? { alg: c.alg } : {}) }];
  }
  const name = party === 'requester' ? EmbeddedKeyNames.REQUESTER : EmbeddedKeyNames.GATEWAY;
  return [{ jwksFile: keyFilePaths(embeddedPaths(config.dataDir).keysDir, name).jwksPath }];
}

export interface PartyKeysOptions {
  readonly clock?: Clock;
  readonly kms?: () => Pick<KMSClient, 'send'>;
  readonly fetch?: typeof fetch;
  readonly owners?: KidOwners;
}

/**
 * A resolver for this deployment's requester or gateway keys (`partyKeySet`), bound to its id;
 * undefined when none are configured, or (embedded) its key history does not exist yet.
 */
export function partyKeys(
  config: CountersignConfig,
  party: 'requester' | 'gateway',
  options: PartyKeysOptions = {},
): KeyResolver | undefined {
  const set = partyKeySet(config, party);
  if (!set) return undefined;
  const only = set.length === 1 ? set[0] : undefined;
  if (!config[party].publicKeys && only && 'jwksFile' in only && !existsSync(only.jwksFile)) {
    return undefined;
  }
  return keySetResolver(set, {
    issuer: config[party].id,
    where: partyKeySetWhere(party),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.kms ? { kms: options.kms } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.owners ? { owners: options.owners } : {}),
  });
}

/** The env variable a party's key set is configured by (named in errors). */
export function partyKeySetWhere(party: 'requester' | 'gateway'): string {
  return party === 'requester'
    ? 'COUNTERSIGN_REQUESTER_PUBLIC_KEYS'
    : 'COUNTERSIGN_GATEWAY_PUBLIC_KEYS';
}

/** A JWKS of every key a resolver trusts now, with each key's validity (`nbf`/`exp`). */
export async function publishedJwks(resolver: KeyResolver): Promise<Jwks> {
  const entries = (await resolver.list?.()) ?? [];
  const keys = await Promise.all(
    entries.map(async (e) => {
      const base = await publicJwkFromKey(e.key, e.alg);
      return {
        ...base,
        kid: e.kid,
        ...(e.nbf === undefined ? {} : { nbf: e.nbf }),
        ...(e.exp === undefined ? {} : { exp: e.exp }),
      };
    }),
  );
  return { keys };
}
