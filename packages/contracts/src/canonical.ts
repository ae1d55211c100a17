// Stable bytes for hashing: canonical JSON (sorted keys, no whitespace) and base64url SHA-256.
// One definition, so the requester's idempotency hash, the gateway's policy version and the
// receipt chain hash never drift apart.
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** SHA-256 as base64url without padding (43 characters); strings are hashed as UTF-8. */
export function sha256B64u(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('base64url');
}

/** Where a policy's keys come from: not part of its version (a path moves with its directory). */
const KEY_SOURCES = new Set(['jwks', 'jwksFile', 'keys']);

/**
 * Version of a requester policy (recorded in receipts): the SHA-256 of the canonical JSON of its
 * rules. Its key sources are left out, so a data directory that moves or is audited as a copy
 * keeps its versions; which key signed is in each token's kid. `policyVersionWithKeys` is the
 * version receipts carried before, still accepted by audit.
 */
export function policyVersion(policy: object): string {
  const rules = Object.fromEntries(Object.entries(policy).filter(([k]) => !KEY_SOURCES.has(k)));
  return sha256B64u(canonicalJson(rules));
}

export function policyVersionWithKeys(policy: object): string {
  return sha256B64u(canonicalJson(policy));
}
