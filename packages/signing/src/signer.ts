// The Signer port: something that holds a private key we never see and signs JWS inputs.
import type { Algorithm } from '@countersign/contracts';

/** A public JWK as published in a JWKS (kid = RFC 7638 thumbprint). */
export interface PublicJwk {
  readonly kty: 'RSA' | 'EC';
  readonly kid: string;
  readonly alg: Algorithm;
  readonly use: 'sig';
  readonly n?: string;
  readonly e?: string;
  readonly crv?: 'P-256' | 'P-384';
  readonly x?: string;
  readonly y?: string;
}

export interface Jwks {
  readonly keys: readonly PublicJwk[];
}

export interface Signer {
  readonly alg: Algorithm;
  /** RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  readonly publicJwk: PublicJwk;
  /** Signs the JWS signing input; returns the JOSE signature (P1363 r||s for ECDSA). */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
}
