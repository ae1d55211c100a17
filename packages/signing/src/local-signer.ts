// LocalSigner: a node:crypto private key in this process. For the embedded mode and tests.
import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { Algorithm } from '@countersign/contracts';
import { ALGORITHMS, cryptoKeyOptions, isAlgorithm } from './algorithms.ts';
import { SigningError } from './errors.ts';
import { publicJwkFromKey } from './jwk.ts';
import type { Signer } from './signer.ts';

/** How a local signer runs, apart from its key. */
export interface LocalSignerRuntime {
  /**
   * Sign on libuv's thread pool instead of the calling thread: several signatures in flight
   * then use every core, at the cost of a thread hop per call. Worth it where many signatures
   * are in flight at once (the requester's submitMany); inline is faster one at a time.
   */
  readonly threadPool?: boolean;
}

export interface LocalSignerOptions extends LocalSignerRuntime {
  /** A private KeyObject, or a PKCS#8 PEM string. */
  readonly privateKey: KeyObject | string;
  readonly alg: Algorithm;
}

export async function createLocalSigner({
  privateKey,
  alg,
  threadPool = false,
}: LocalSignerOptions): Promise<Signer> {
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
      const failed = (cause: unknown) =>
        new SigningError('SIGNING_FAILED', `local ${alg} signing failed (kid ${publicJwk.kid})`, {
          cause,
        });
      if (threadPool) {
        return new Promise((resolve, reject) => {
          cryptoSign(hash, signingInput, options, (err, sig) =>
            err ? reject(failed(err)) : resolve(new Uint8Array(sig)),
          );
        });
      }
      try {
        return Promise.resolve(new Uint8Array(cryptoSign(hash, signingInput, options)));
      } catch (cause) {
        return Promise.reject(failed(cause));
      }
    },
  };
}
