// A KMS client stub for unit tests: GetPublicKey and Sign over a local key pair, signing like
// real KMS does (PSS salt = 32 bytes, DIGEST = the digest of the message we signed).
import { createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { constants } from 'node:crypto';
import { GetPublicKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import type { KmsSendClient } from '../kms-signer.ts';

export interface StubKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keySpec: string;
  readonly keyUsage?: string;
  /** moto returns only CustomerMasterKeySpec; real KMS returns both. */
  readonly onlyCustomerMasterKeySpec?: boolean;
  /** Sign PSS with the maximal salt length, like moto (real KMS and jose use 32). */
  readonly pssMaxSalt?: boolean;
}

export interface StubKms extends KmsSendClient {
  readonly calls: { name: string; input: Record<string, unknown> }[];
  /** Messages we expect as DIGEST: digest hex → the message it is the hash of. */
  readonly preimages: Map<string, Uint8Array>;
  expectDigestOf(message: Uint8Array, hash: 'sha256' | 'sha384'): void;
  /** Throw this many errors (by name) before answering Sign normally. */
  failNextSigns(n: number, name: string): void;
  delayMs: number;
  maxInFlight: number;
  /** alias name → key id; GetPublicKey on an alias answers for its target, like KMS. */
  readonly aliases: Record<string, string>;
}

const HASH: Record<string, 'sha256' | 'sha384'> = {
  RSASSA_PKCS1_V1_5_SHA_256: 'sha256',
  RSASSA_PSS_SHA_256: 'sha256',
  ECDSA_SHA_256: 'sha256',
  ECDSA_SHA_384: 'sha384',
};

export function stubKms(keys: Record<string, StubKey>): StubKms {
  let failures = 0;
  let failName = '';
  let inFlight = 0;
  const stub: StubKms = {
    calls: [],
    preimages: new Map(),
    delayMs: 0,
    maxInFlight: 0,
    aliases: {},
    expectDigestOf(message, hash) {
      stub.preimages.set(createHash(hash).update(message).digest('hex'), message);
    },
    failNextSigns(n, name) {
      failures = n;
      failName = name;
    },
    async send(command: unknown) {
      inFlight++;
      stub.maxInFlight = Math.max(stub.maxInFlight, inFlight);
      try {
        if (stub.delayMs) await new Promise((r) => setTimeout(r, stub.delayMs));
        return answer(command);
      } finally {
        inFlight--;
      }
    },
  };

  function notFound(keyId: string): Error {
    return Object.assign(new Error(`Key '${keyId}' does not exist`), { name: 'NotFoundException' });
  }

  function answer(command: unknown): unknown {
    if (command instanceof GetPublicKeyCommand) {
      const asked = command.input.KeyId!;
      stub.calls.push({ name: 'GetPublicKey', input: { ...command.input } });
      const keyId = stub.aliases[asked] ?? asked;
      const k = keys[keyId];
      if (!k) throw notFound(keyId);
      return {
        KeyId: keyId,
        PublicKey: new Uint8Array(k.publicKey.export({ format: 'der', type: 'spki' })),
        KeyUsage: k.keyUsage ?? 'SIGN_VERIFY',
        CustomerMasterKeySpec: k.keySpec,
        ...(k.onlyCustomerMasterKeySpec ? {} : { KeySpec: k.keySpec }),
        $metadata: { attempts: 1 },
      };
    }
    if (command instanceof SignCommand) {
      const { KeyId, Message, MessageType, SigningAlgorithm } = command.input;
      stub.calls.push({ name: 'Sign', input: { ...command.input } });
      if (failures > 0) {
        failures--;
        throw Object.assign(new Error('Rate exceeded'), {
          name: failName,
          $metadata: { attempts: 3 },
        });
      }
      const k = keys[KeyId!];
      if (!k) throw notFound(KeyId!);
      const hash = HASH[SigningAlgorithm!]!;
      let message = Message!;
      if (MessageType === 'DIGEST') {
        const pre = stub.preimages.get(Buffer.from(message).toString('hex'));
        if (!pre) throw new Error('stub: DIGEST of an unexpected message');
        message = pre;
      } else if (message.byteLength > 4096) {
        throw Object.assign(new Error('Message too long for RAW'), { name: 'ValidationException' });
      }
      const key =
        SigningAlgorithm === 'RSASSA_PSS_SHA_256'
          ? {
              key: k.privateKey,
              padding: constants.RSA_PKCS1_PSS_PADDING,
              saltLength: k.pssMaxSalt ? constants.RSA_PSS_SALTLEN_MAX_SIGN : 32,
            }
          : k.privateKey; // ECDSA: DER, as KMS returns it
      return {
        KeyId,
        Signature: new Uint8Array(cryptoSign(hash, message, key)),
        SigningAlgorithm,
        $metadata: { attempts: 1 },
      };
    }
    throw new Error('stub: unsupported command');
  }
  return stub;
}
