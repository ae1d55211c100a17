// The request keys each requester policy trusts (inline JWKS and/or a JWKS file), each bound to
// that requester's id so one requester's key can never vouch for another.
import type { Clock, RequesterPolicy } from '@countersign/contracts';
import { jwksFile, staticKeys, type KeyResolver } from './key-resolvers.ts';

export function policyKeys(
  policies: readonly RequesterPolicy[],
  options: { readonly clock?: Clock } = {},
): KeyResolver[] {
  return policies.flatMap((p): KeyResolver[] => [
    ...(p.jwks ? [staticKeys(p.jwks, { issuer: p.id })] : []),
    ...(p.jwksFile
      ? [jwksFile(p.jwksFile, { issuer: p.id, ...(options.clock ? { clock: options.clock } : {}) })]
      : []),
  ]);
}
