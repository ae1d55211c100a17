// What each JOSE alg means for node:crypto and for KMS. One table, used by signers and verifier.
import { constants, type KeyObject } from 'node:crypto';
import type { Algorithm } from '@countersign/contracts';

export interface AlgorithmSpec {
  readonly alg: Algorithm;
  readonly kty: 'RSA' | 'EC';
  /** node:crypto digest name. */
  readonly hash: 'sha256' | 'sha384';
  /** For EC: the JWK curve name; for RSA: undefined. */
  readonly crv?: 'P-256' | 'P-384';
  /** For EC: node's curve name. */
  readonly namedCurve?: 'prime256v1' | 'secp384r1';
  /** For EC: bytes of r and of s in the JOSE (P1363) form. */
  readonly componentBytes?: 32 | 48;
  /** KMS SigningAlgorithm. */
  readonly kmsSigningAlgorithm:
    'RSASSA_PKCS1_V1_5_SHA_256' | 'RSASSA_PSS_SHA_256' | 'ECDSA_SHA_256' | 'ECDSA_SHA_384';
  /** KMS key specs this alg can use. */
  readonly kmsKeySpecs: readonly string[];
}

const RSA_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const;

export const ALGORITHMS: Readonly<Record<Algorithm, AlgorithmSpec>> = {
  RS256: {
    alg: 'RS256',
    kty: 'RSA',
    hash: 'sha256',
    kmsSigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
    kmsKeySpecs: RSA_SPECS,
  },
  PS256: {
    alg: 'PS256',
    kty: 'RSA',
    hash: 'sha256',
    kmsSigningAlgorithm: 'RSASSA_PSS_SHA_256',
    kmsKeySpecs: RSA_SPECS,
  },
  ES256: {
    alg: 'ES256',
    kty: 'EC',
    hash: 'sha256',
    crv: 'P-256',
    namedCurve: 'prime256v1',
    componentBytes: 32,
    kmsSigningAlgorithm: 'ECDSA_SHA_256',
    kmsKeySpecs: ['ECC_NIST_P256'],
  },
  ES384: {
    alg: 'ES384',
    kty: 'EC',
    hash: 'sha384',
    crv: 'P-384',
    namedCurve: 'secp384r1',
    componentBytes: 48,
    kmsSigningAlgorithm: 'ECDSA_SHA_384',
    kmsKeySpecs: ['ECC_NIST_P384'],
  },
};

export function isAlgorithm(value: unknown): value is Algorithm {
  return typeof value === 'string' && Object.hasOwn(ALGORITHMS, value);
}

/** Minimum RSA modulus we sign or verify with. */
export const MIN_RSA_BITS = 2048;

/**
 * Why `key` cannot be used with `alg`, or undefined when it can. Checks key type, curve and
 * RSA size; used by signers at start and by key resolvers when they load a key.
 */
export function keyMismatch(key: KeyObject, alg: Algorithm): string | undefined {
  const spec = ALGORITHMS[alg];
  const type = key.asymmetricKeyType;
  if (spec.kty === 'RSA') {
    if (type !== 'rsa') return `${alg} needs an RSA key, got ${type ?? 'a non-asymmetric key'}`;
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS)
      return `${alg} needs an RSA key of at least ${MIN_RSA_BITS} bits, got ${bits}`;
    return undefined;
  }
  if (type !== 'ec') return `${alg} needs an EC key, got ${type ?? 'a non-asymmetric key'}`;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve !== spec.namedCurve) return `${alg} needs curve ${spec.crv}, got ${curve ?? 'unknown'}`;
  return undefined;
}

/** node:crypto sign/verify options for a key and alg (P1363 for ECDSA, PSS salt = 32 bytes). */
export function cryptoKeyOptions(
  key: KeyObject,
  alg: Algorithm,
):
  | KeyObject
  | { key: KeyObject; dsaEncoding: 'ieee-p1363' }
  | { key: KeyObject; padding: number; saltLength: number } {
  const spec = ALGORITHMS[alg];
  if (spec.kty === 'EC') return { key, dsaEncoding: 'ieee-p1363' };
  if (alg === 'PS256') {
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
  }
  return key;
}
