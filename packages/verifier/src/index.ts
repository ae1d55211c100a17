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
export type { VerifiedBatch } from './batch-item.ts';
export { staticKeys, jwksFile, kmsPublicKeys, combineKeys } from './key-resolvers.ts';
export { policyKeys, policyKeySets, assertDistinctKids, jwksFileKeySet } from './policy-keys.ts';
export type { TrustedKeySet } from './policy-keys.ts';
export { jwkThumbprint, thumbprintMismatch } from './thumbprint.ts';
export type { ThumbprintMembers } from './thumbprint.ts';
export type { KeyEntry, KeyResolver, KmsKeyRef } from './key-resolvers.ts';
export { parseStrictJson } from './strict-json.ts';
export { decodeUnverified } from './decode-unverified.ts';
export type { StrictJsonResult } from './strict-json.ts';
