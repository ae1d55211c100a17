// The request keys each requester policy trusts (inline JWKS, a JWKS file, and/or a key set of
// KMS keys, aliases, files and URLs: key-sets.ts), each bound to that requester's id so one
// requester's key can never vouch for another.
//
// Checked at start (a configuration error, exit 2): one kid names one key of one requester
// across all trusted sets. Key resolvers are combined in order and the first that knows a kid
// wins, so a kid shared by two tenants would make the second tenant's valid tokens fail as
// BAD_SIGNATURE (issue 14). A kid shaped like an RFC 7638 thumbprint must be its key's own.
// Keys known only once loaded (KMS, URLs, a JWKS file written after start) are held to the
// same rule as they load (KidOwners): the sets checked at start hold their kids first, so a
// late set can never take a kid from them, whatever the policies' order.
import { readFileSync } from 'node:fs';
import type { KMSClient } from '@aws-sdk/client-kms';
import {
  ConfigError,
  type Clock,
  type FieldIssue,
  type KeySet,
  type RequesterPolicy,
} from '@countersign/contracts';
import { parseJwks, type PublicJwk } from '@countersign/signing';
import { jwksEntries, jwksFile, staticKeys, type KeyResolver } from './key-resolvers.ts';
import { createKidOwners, guardedKeys, keySetResolver, type KidOwners } from './key-sets.ts';
import { thumbprintMismatch } from './thumbprint.ts';

/** A trusted key set to check: where it is configured, whose keys they are, which keys. */
export interface TrustedKeySet {
  /** Where it is configured (named in the error), e.g. `COUNTERSIGN_POLICIES[1].jwks`. */
  readonly where: string;
  readonly issuer: string;
  readonly keys: readonly PublicJwk[];
}

const material = (k: PublicJwk) => JSON.stringify([k.kty, k.alg, k.crv, k.x, k.y, k.n, k.e]);

/**
 * Throws a ConfigError naming every kid trusted for two requesters (or for two different keys)
 * and every thumbprint-shaped kid that is not its key's thumbprint.
 */
export function assertDistinctKids(sets: readonly TrustedKeySet[]): void {
  const issues: FieldIssue[] = [];
  const seen = new Map<string, { set: TrustedKeySet; key: PublicJwk }>();
  for (const set of sets) {
    for (const key of set.keys) {
      const why = thumbprintMismatch(key.kid, key);
      if (why) issues.push({ path: set.where, message: why });
      const had = seen.get(key.kid);
      if (!had) {
        seen.set(key.kid, { set, key });
      } else if (had.set.issuer !== set.issuer) {
        issues.push({
          path: set.where,
          message: `kid ${key.kid} is also trusted for requester ${had.set.issuer} (${had.set.where}): a kid must name one key of one requester`,
        });
      } else if (material(had.key) !== material(key)) {
        issues.push({
          path: set.where,
          message: `kid ${key.kid} names two different keys (also in ${had.set.where})`,
        });
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

/** The key sets of the policies that can be read now (a JWKS file not there yet is skipped). */
export function policyKeySets(policies: readonly RequesterPolicy[]): TrustedKeySet[] {
  const sets: TrustedKeySet[] = [];
  policies.forEach((p, i) => {
    const where = `COUNTERSIGN_POLICIES[${i}]`;
    if (p.jwks) {
      sets.push({ where: `${where}.jwks`, issuer: p.id, keys: parseSet(p.jwks, `${where}.jwks`) });
    }
    if (p.jwksFile) {
      // A file not there yet is checked when first read (key-resolvers: KEY_UNAVAILABLE).
      const set = jwksFileKeySet(p.jwksFile, p.id);
      if (set) sets.push({ ...set, where: `${where}.jwksFile` });
    }
    if (p.keys) sets.push(...keySetStaticSets(p.keys, p.id, `${where}.keys`));
  });
  return sets;
}

/** The parts of a key set that can be read now: inline JWKS and JWKS files that exist. */
export function keySetStaticSets(set: KeySet, issuer: string, where: string): TrustedKeySet[] {
  return set.flatMap((source, i): TrustedKeySet[] => {
    const at = `${where}[${i}]`;
    if ('jwks' in source)
      return [{ where: `${at}.jwks`, issuer, keys: parseSet(source.jwks, `${at}.jwks`) }];
    if ('jwksFile' in source) {
      const set = jwksFileKeySet(source.jwksFile, issuer);
      return set ? [{ ...set, where: `${at}.jwksFile` }] : [];
    }
    return [];
  });
}

/** The key set of a JWKS file bound to `issuer`, or undefined when it cannot be read now. */
export function jwksFileKeySet(path: string, issuer: string): TrustedKeySet | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return { where: path, issuer, keys: parseSet(parseJson(text, path), path) };
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ConfigError([{ path: where, message: 'is not valid JSON' }]);
  }
}

function parseSet(raw: unknown, where: string): readonly PublicJwk[] {
  try {
    return parseJwks(raw, where).keys;
  } catch (err) {
    throw new ConfigError([{ path: where, message: (err as Error).message }]);
  }
}

export interface PolicyKeysOptions {
  readonly clock?: Clock;
  /** Other sets the caller trusts beside them (e.g. the embedded requester's JWKS), checked together. */
  readonly alsoTrusted?: readonly TrustedKeySet[];
  /** The KMS client, for key sets naming KMS keys or aliases. */
  readonly kms?: () => Pick<KMSClient, 'send'>;
  readonly fetch?: typeof fetch;
  /** Shared with the caller's other key sets, so a kid stays one party's across all of them. */
  readonly owners?: KidOwners;
}

/** Resolvers for the policies' keys, each bound to its requester. */
export function policyKeys(
  policies: readonly RequesterPolicy[],
  options: PolicyKeysOptions = {},
): KeyResolver[] {
  const known = [...policyKeySets(policies), ...(options.alsoTrusted ?? [])];
  assertDistinctKids(known);
  const clock = options.clock ? { clock: options.clock } : {};
  const owners = options.owners ?? createKidOwners();
  // Distinct by now: these cannot conflict, and every set that loads later meets them.
  for (const set of known) {
    for (const entry of jwksEntries(set.keys, set.issuer, set.where))
      owners.admit(entry, set.where);
  }
  return policies.flatMap((p, i): KeyResolver[] => [
    ...(p.jwks ? [staticKeys(p.jwks, { issuer: p.id })] : []),
    ...(p.jwksFile
      ? [
          guardedKeys(
            jwksFile(p.jwksFile, { issuer: p.id, ...clock }),
            owners,
            `COUNTERSIGN_POLICIES[${i}].jwksFile`,
          ),
        ]
      : []),
    ...(p.keys
      ? [
          keySetResolver(p.keys, {
            issuer: p.id,
            where: `COUNTERSIGN_POLICIES[${i}].keys`,
            owners,
            ...clock,
            ...(options.kms ? { kms: options.kms } : {}),
            ...(options.fetch ? { fetch: options.fetch } : {}),
          }),
        ]
      : []),
  ]);
}
