// @countersign/signing: the Signer port, KMS and local signers, JWS building, DER <-> JOSE.
export type { Signer, PublicJwk, Jwks } from './signer.ts';
