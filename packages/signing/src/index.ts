// @countersign/signing: the Signer port, KMS and local signers, JWS building, DER <-> JOSE.
export type { Signer, RotatingSigner, PublicJwk, Jwks } from './signer.ts';
export { currentSigner } from './signer.ts';
export { SigningError } from './errors.ts';
export type { SigningCode } from './errors.ts';
export {
  ALGORITHMS,
  MIN_RSA_BITS,
  isAlgorithm,
  keyMismatch,
  cryptoKeyOptions,
} from './algorithms.ts';
export type { AlgorithmSpec } from './algorithms.ts';
export { derToJose, joseToDer } from './der.ts';
export type { EcAlgorithm } from './der.ts';
export {
  jwkThumbprint,
  publicJwkFromKey,
  toJwks,
  mergeJwks,
  parsePublicJwk,
  parseJwks,
  readJwksFile,
} from './jwk.ts';
export { signJwt } from './jwt.ts';
export { createLocalSigner } from './local-signer.ts';
export type { LocalSignerOptions, LocalSignerRuntime } from './local-signer.ts';
export { createKmsSigner, createKmsClient, KMS_RAW_MAX_BYTES } from './kms-signer.ts';
export { createKmsAliasSigner } from './kms-alias-signer.ts';
export type { KmsAliasSigner, KmsAliasSignerOptions } from './kms-alias-signer.ts';
export type { KmsSigner, KmsSignerOptions, KmsSignerMetrics, KmsSendClient } from './kms-signer.ts';
export { generateKeyFiles, loadLocalSigner, keyFilePaths, writeKeySetFile } from './key-files.ts';
export { ensureLocalSigner, openKeyRing, rotateKeyFiles, activeKey } from './key-ring.ts';
export type { KeyRingOptions, RotateOptions, Rotated } from './key-ring.ts';
export type { GeneratedKey, KeyFilePaths } from './key-files.ts';
export type { ThumbprintMembers } from './jwk.ts';
export { createBatchSigner } from './batch-signer.ts';
export type { BatchSigner, BatchSignerOptions, BatchSignerMetrics } from './batch-signer.ts';
