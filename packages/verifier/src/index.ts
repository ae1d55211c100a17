// @countersign/verifier: local JWS verification with cached public keys.
export { createVerifier } from './verifier.ts';
export type {
  DefaultClaims,
  Verified,
  VerifiedHeader,
  Verifier,
  VerifierOptions,
  VerifyOptions,
} from './verifier.ts';
export { VerificationError, isVerificationError } from './errors.ts';
export { staticKeys, jwksFile, combineKeys } from './key-resolvers.ts';
export type { KeyEntry, KeyResolver, ResolveHint } from './key-resolvers.ts';
export { kmsPublicKeys } from './kms-keys.ts';
export type { KmsKeyRef } from './kms-keys.ts';
export { jwksUrl } from './jwks-url.ts';
export type { JwksUrlOptions } from './jwks-url.ts';
export type { CachedKeys } from './key-cache.ts';
export {
  keySetResolver,
  createKidOwners,
  partyKeySet,
  partyKeys,
  partyKeySetWhere,
  publishedJwks,
} from './key-sets.ts';
export type { KeySetOptions, KidConflict, KidOwners, PartyKeysOptions } from './key-sets.ts';
export {
  policyKeys,
  policyKeySets,
  keySetStaticSets,
  assertDistinctKids,
  jwksFileKeySet,
} from './policy-keys.ts';
export type { TrustedKeySet, PolicyKeysOptions } from './policy-keys.ts';
export type { VerifiedBatch } from './batch-item.ts';
export { jwkThumbprint, thumbprintMismatch } from './thumbprint.ts';
export type { ThumbprintMembers } from './thumbprint.ts';
export { parseStrictJson } from './strict-json.ts';
export { decodeUnverified } from './decode-unverified.ts';
export type { StrictJsonResult } from './strict-json.ts';
