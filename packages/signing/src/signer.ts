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
  /** Validity in a trusted key set (epoch seconds): the key verifies tokens signed (iat) from… */
  readonly nbf?: number;
  /** …until its retirement; a token signed at or after `exp` is refused (KEY_RETIRED). */
  readonly exp?: number;
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

/**
 * A signer whose key changes over time (a key ring after a rotation). `signJwt` takes
 * `current()` once per token, so the header's kid and the signature always name the same key;
 * `kid`, `alg` and `publicJwk` describe the key that signs now.
 */
export interface RotatingSigner extends Signer {
  current(): Signer;
}

/** The signer that signs now: `current()` of a rotating signer, else the signer itself. */
export function currentSigner(signer: Signer): Signer {
  const rotating = signer as Partial<RotatingSigner>;
  return typeof rotating.current === 'function' ? rotating.current() : signer;
}
