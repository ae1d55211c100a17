// KmsSigner: the private key stays in KMS; we call kms:Sign. KMS is the slow, quota-bound step,
// so calls are bounded (p-limit), the SDK retries throttling adaptively (build the client with
// `createKmsClient` or `retryMode: 'adaptive'` yourself), and sign latency is measured.
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  GetPublicKeyCommand,
  KMSClient,
  SignCommand,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';
import pLimit from 'p-limit';
import { describeSdkError, percentile } from '@countersign/contracts';
import type { Algorithm, Clock } from '@countersign/contracts';
import { ALGORITHMS, cryptoKeyOptions, isAlgorithm, keyMismatch } from './algorithms.ts';
import { derToJose } from './der.ts';
import { SigningError } from './errors.ts';
import { publicJwkFromKey } from './jwk.ts';
import type { Signer } from './signer.ts';

/** KMS accepts at most 4096 bytes with MessageType RAW; above that we send a digest. */
export const KMS_RAW_MAX_BYTES = 4096;

export interface KmsSignerMetrics {
  readonly signs: number;
  /** Failed sign calls (after the SDK's retries). */
  readonly errors: number;
  /** Calls that finally failed with ThrottlingException. */
  readonly throttles: number;
  /** SDK retries that happened inside successful or failed calls (from `$metadata.attempts`). */
  readonly retries: number;
  /** Sign latency over the last 1024 calls, milliseconds (includes waiting for a slot). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly lastMs: number;
  readonly inFlight: number;
}

export interface KmsSigner extends Signer {
  /** As configured: a key id, ARN or alias. */
  readonly keyId: string;
  /** The key KMS signs with (what GetPublicKey answered for `keyId` at creation). */
  readonly resolvedKeyId: string;
  metrics(): KmsSignerMetrics;
}

/** The part of KMSClient we use; a stub with the same `send` works in tests. */
export type KmsSendClient = Pick<KMSClient, 'send'>;

export interface KmsSignerOptions {
  readonly client: KmsSendClient;
  /** Key id, ARN, or alias (`alias/...`). */
  readonly keyId: string;
  readonly alg: Algorithm;
  /** Max concurrent kms:Sign calls from this signer (default 16). */
  readonly maxConcurrency?: number;
  /** Monotonic clock for latency figures (default `performance.now`). */
  readonly clock?: Clock;
}

/** A KMS client with adaptive retry (client-side rate limiting on throttling). */
export function createKmsClient(config: KMSClientConfig = {}): KMSClient {
  return new KMSClient({ retryMode: 'adaptive', maxAttempts: 6, ...config });
}

const monotonic: Clock = { now: () => performance.now() };
const WINDOW = 1024;

function attemptsOf(x: unknown): number {
  const meta = (x as { $metadata?: { attempts?: unknown } } | undefined)?.$metadata;
  return typeof meta?.attempts === 'number' ? meta.attempts : 1;
}

/**
 * Creates a KMS signer. Calls GetPublicKey once and fails fast (KEY_UNAVAILABLE, KEY_MISMATCH)
 * when the key is missing, is not a SIGN_VERIFY key, or its spec does not fit `alg`.
 */
export async function createKmsSigner(options: KmsSignerOptions): Promise<KmsSigner> {
  const { client, keyId, alg } = options;
  if (!isAlgorithm(alg)) throw new SigningError('CONFIG_INVALID', `unsupported alg ${String(alg)}`);
  const maxConcurrency = options.maxConcurrency ?? 16;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw new SigningError('CONFIG_INVALID', 'maxConcurrency must be a positive integer');
  }
  const clock = options.clock ?? monotonic;
  const spec = ALGORITHMS[alg];

  let out;
  try {
    out = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
  } catch (cause) {
    throw new SigningError(
      'KEY_UNAVAILABLE',
      `KMS key ${keyId}: GetPublicKey failed (${describeSdkError(cause).code})`,
      {
        cause,
        details: { keyId },
      },
    );
  }
  if (out.KeyUsage !== 'SIGN_VERIFY') {
    throw new SigningError(
      'KEY_MISMATCH',
      `KMS key ${keyId}: KeyUsage is ${out.KeyUsage ?? 'missing'}, ${alg} needs SIGN_VERIFY`,
      { details: { keyId, alg } },
    );
  }
  // Real KMS returns KeySpec (and the deprecated CustomerMasterKeySpec); moto only the latter.
  const keySpec: string | undefined = out.KeySpec ?? out.CustomerMasterKeySpec;
  if (!keySpec || !spec.kmsKeySpecs.includes(keySpec)) {
    throw new SigningError(
      'KEY_MISMATCH',
      `KMS key ${keyId}: key spec ${keySpec ?? 'missing'} cannot sign ${alg} (needs ${spec.kmsKeySpecs.join(' or ')})`,
      { details: { keyId, alg, keySpec: keySpec ?? null } },
    );
  }
  if (out.SigningAlgorithms && !out.SigningAlgorithms.includes(spec.kmsSigningAlgorithm)) {
    throw new SigningError(
      'KEY_MISMATCH',
      `KMS key ${keyId}: does not offer ${spec.kmsSigningAlgorithm} needed by ${alg}`,
      { details: { keyId, alg } },
    );
  }
  if (!out.PublicKey) {
    throw new SigningError('KEY_UNAVAILABLE', `KMS key ${keyId}: no PublicKey in the response`, {
      details: { keyId },
    });
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new SigningError('KEY_UNAVAILABLE', `KMS key ${keyId}: public key unreadable`, {
      cause,
      details: { keyId },
    });
  }
  const why = keyMismatch(publicKey, alg);
  if (why) {
    throw new SigningError('KEY_MISMATCH', `KMS key ${keyId}: ${why}`, { details: { keyId, alg } });
  }
  const publicJwk = await publicJwkFromKey(publicKey, alg);
  // Sign with the key GetPublicKey answered for, not the alias: after the alias moves this
  // signer keeps signing with the key its kid names (createKmsAliasSigner follows the move)
  // instead of KMS signing with a key the token's kid does not name.
  const signKeyId = out.KeyId ?? keyId;
  const verifyKey = cryptoKeyOptions(publicKey, alg);

  const limit = pLimit(maxConcurrency);
  const latencies: number[] = [];
  let next = 0;
  let signs = 0;
  let errors = 0;
  let throttles = 0;
  let retries = 0;
  let lastMs = 0;
  const record = (ms: number): void => {
    lastMs = ms;
    latencies[next] = ms;
    next = (next + 1) % WINDOW;
  };

  async function callKms(signingInput: Uint8Array): Promise<Uint8Array> {
    const raw = signingInput.byteLength <= KMS_RAW_MAX_BYTES;
    const message = raw ? signingInput : createHash(spec.hash).update(signingInput).digest();
    let res;
    try {
      res = await client.send(
        new SignCommand({
          KeyId: signKeyId,
          Message: message,
          MessageType: raw ? 'RAW' : 'DIGEST',
          SigningAlgorithm: spec.kmsSigningAlgorithm,
        }),
      );
    } catch (cause) {
      errors++;
      retries += Math.max(0, attemptsOf(cause) - 1);
      const { code: name, retryable } = describeSdkError(cause);
      if (name === 'ThrottlingException') throttles++;
      throw new SigningError('SIGNING_FAILED', `KMS key ${keyId}: Sign failed (${name})`, {
        cause,
        details: {
          keyId,
          retryable,
        },
      });
    }
    retries += Math.max(0, attemptsOf(res) - 1);
    if (!res.Signature) {
      errors++;
      throw new SigningError('SIGNING_FAILED', `KMS key ${keyId}: Sign returned no signature`, {
        details: { keyId, retryable: false },
      });
    }
    let sig: Uint8Array;
    try {
      sig = spec.kty === 'EC' ? derToJose(res.Signature, alg as 'ES256' | 'ES384') : res.Signature;
    } catch (cause) {
      errors++;
      throw new SigningError('SIGNING_FAILED', `KMS key ${keyId}: signature is not strict DER`, {
        cause,
        details: { keyId, retryable: false },
      });
    }
    // Never hand out a token that will not verify (a wrong key behind an alias, a PSS salt length
    // other than 32 as moto produces). Costs one local verify, microseconds next to a KMS call.
    if (!cryptoVerify(spec.hash, signingInput, verifyKey, sig)) {
      errors++;
      throw new SigningError(
        'SIGNING_FAILED',
        `KMS key ${keyId}: returned signature does not verify as ${alg} with the key's public key`,
        { details: { keyId, retryable: false } },
      );
    }
    signs++;
    return new Uint8Array(sig);
  }

  return {
    alg,
    kid: publicJwk.kid,
    keyId,
    resolvedKeyId: signKeyId,
    publicJwk,
    sign(signingInput: Uint8Array): Promise<Uint8Array> {
      const started = clock.now();
      return limit(async () => {
        try {
          return await callKms(signingInput);
        } finally {
          record(clock.now() - started);
        }
      });
    },
    metrics(): KmsSignerMetrics {
      const sorted = latencies.slice().sort((a, b) => a - b);
      return {
        signs,
        errors,
        throttles,
        retries,
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
        lastMs,
        inFlight: limit.activeCount + limit.pendingCount,
      };
    },
  };
}
