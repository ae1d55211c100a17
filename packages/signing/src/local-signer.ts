// LocalSigner: a node:crypto private key in this process. For the embedded mode and tests.
import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { Algorithm } from '@countersign/contracts';
import { ALGORITHMS, cryptoKeyOptions, isAlgorithm } from './algorithms.ts';
import { SigningError } from './errors.ts';
import { publicJwkFromKey } from './jwk.ts';
import type { Signer } from './signer.ts';

export interface LocalSignerOptions {
  /** A private KeyObject, or a PKCS#8 PEM string. */
  readonly privateKey: KeyObject | string;
  readonly alg: Algorithm;
}

export async function createLocalSigner({ privateKey, alg }: LocalSignerOptions): Promise<Signer> {
  if (!isAlgorithm(alg)) throw new SigningError('CONFIG_INVALID', `unsupported alg ${String(alg)}`);
  let key: KeyObject;
  try {
    key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  } catch (cause) {
    throw new SigningError('KEY_UNAVAILABLE', 'the private key could not be parsed as PKCS#8 PEM', {
      cause,
    });
  }
  if (key.type !== 'private') {
    throw new SigningError('KEY_MISMATCH', 'a local signer needs a private key');
  }
  const publicJwk = await publicJwkFromKey(key, alg);
  const options = cryptoKeyOptions(key, alg);
  const hash = ALGORITHMS[alg].hash;
  return {
    alg,
    kid: publicJwk.kid,
    publicJwk,
    sign(signingInput: Uint8Array): Promise<Uint8Array> {
      try {
        return Promise.resolve(new Uint8Array(cryptoSign(hash, signingInput, options)));
      } catch (cause) {
        return Promise.reject(
          new SigningError('SIGNING_FAILED', `local ${alg} signing failed (kid ${publicJwk.kid})`, {
            cause,
          }),
        );
      }
    },
  };
}
