// Where the data key of sealed exchange credentials comes from (envelope encryption): KMS
// GenerateDataKey / Decrypt with an encryption context, or, in the embedded runtime, a local
// key-encryption key file (0600) that wraps the data key with AES-256-GCM, the context bound as
// associated data. Sealing and opening run the same code on either provider.
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { canonicalJson, errorCodeOf } from '@countersign/contracts';
import { GatewayError } from '../errors.ts';

/** A KMS-style encryption context: it must be presented again, unchanged, to decrypt. */
export type EncryptionContext = Readonly<Record<string, string>>;

export interface DataKey {
  /** The key-encryption key that wrapped it (KMS key ARN, or `local:<id>`). */
  readonly keyId: string;
  /** 32 bytes. The caller wipes it (`fill(0)`) as soon as it has been used. */
  readonly plaintext: Buffer;
  readonly encrypted: Buffer;
}

export interface DataKeyProvider {
  /** What the sealed file names as its keyId; opening refuses a file naming another. */
  readonly describe: string;
  generateDataKey(context: EncryptionContext): Promise<DataKey>;
  /** 32 bytes; the caller wipes them after use. */
  decryptDataKey(input: {
    readonly keyId: string;
    readonly encrypted: Buffer;
    readonly context: EncryptionContext;
  }): Promise<Buffer>;
}

/**
 * SDK errors are not attached as causes: they carry the whole HTTP exchange (request headers
 * included), which has no place in a log line. Their name is in the message.
 */
function invalid(message: string): GatewayError<'CREDENTIALS_INVALID'> {
  return new GatewayError('CREDENTIALS_INVALID', message);
}

/** A view on the SDK's bytes (no copy), so wiping the Buffer wipes what KMS returned. */
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function awsErrorName(err: unknown): string {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : 'Error';
}

/** KMS: GenerateDataKey (AES_256) and Decrypt, both with the encryption context. */
export function createKmsDataKeys(options: {
  readonly client: KMSClient;
  /** Key id, ARN or alias. Decrypt is pinned to it: a file naming another key fails. */
  readonly keyId: string;
}): DataKeyProvider {
  const { client, keyId } = options;
  return {
    describe: `KMS key ${keyId}`,
    async generateDataKey(context) {
      let out;
      try {
        out = await client.send(
          new GenerateDataKeyCommand({
            KeyId: keyId,
            KeySpec: 'AES_256',
            EncryptionContext: { ...context },
          }),
        );
      } catch (err) {
        throw invalid(`KMS GenerateDataKey on ${keyId} failed (${awsErrorName(err)})`);
      }
      if (!out.Plaintext || !out.CiphertextBlob || !out.KeyId || out.Plaintext.length !== 32) {
        if (out.Plaintext) view(out.Plaintext).fill(0);
        throw invalid(`KMS GenerateDataKey on ${keyId} returned no 256-bit data key`);
      }
      return {
        keyId: out.KeyId,
        plaintext: view(out.Plaintext),
        encrypted: Buffer.from(out.CiphertextBlob),
      };
    },
    async decryptDataKey({ encrypted, context }) {
      let out;
      try {
        out = await client.send(
          new DecryptCommand({
            KeyId: keyId,
            CiphertextBlob: encrypted,
            EncryptionContext: { ...context },
          }),
        );
      } catch (err) {
        const name = awsErrorName(err);
        const why =
          name === 'InvalidCiphertextException'
            ? 'the data key does not decrypt under this encryption context'
            : name === 'AccessDeniedException' || name === 'IncorrectKeyException'
              ? 'this role may not decrypt it, or it was sealed under another key'
              : `KMS Decrypt failed (${name})`;
        throw invalid(`sealed credentials: ${why} (key ${keyId})`);
      }
      if (!out.Plaintext || out.Plaintext.length !== 32) {
        if (out.Plaintext) view(out.Plaintext).fill(0);
        throw invalid(`KMS Decrypt on ${keyId} returned no 256-bit data key`);
      }
      return view(out.Plaintext);
    },
  };
}

const KEK_BYTES = 32;
const WRAP_VERSION = 1;

/** Creates a random 256-bit key-encryption key file (0600) unless one exists. */
export function ensureKekFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, randomBytes(KEK_BYTES), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if (errorCodeOf(err) !== 'EEXIST') throw err;
  }
  chmodSync(path, 0o600);
}

function readKek(path: string): Buffer {
  let mode: number;
  let kek: Buffer;
  try {
    mode = statSync(path).mode;
    kek = readFileSync(path);
  } catch (err) {
    throw invalid(`cannot read the key-encryption key ${path}: ${errorCodeOf(err) ?? 'error'}`);
  }
  if ((mode & 0o077) !== 0) {
    kek.fill(0);
    throw invalid(`the key-encryption key ${path} is readable by others: chmod 600 it`);
  }
  if (kek.length !== KEK_BYTES) {
    kek.fill(0);
    throw invalid(`the key-encryption key ${path} is not ${KEK_BYTES} bytes`);
  }
  return kek;
}

/** `local:` + 22 base64url chars of HMAC(kek, label): names the KEK without revealing it. */
function localKeyId(kek: Buffer): string {
  return `local:${createHmac('sha256', kek).update('countersign exchange KEK id').digest('base64url').slice(0, 22)}`;
}

/**
 * A local key-encryption key file wrapping the data key: `version | iv(12) | tag(16) | key(32)`,
 * AES-256-GCM with the canonical JSON of the context as associated data, so a wrapped key opens
 * only with the context it was sealed with, as with KMS.
 */
export function createLocalKekDataKeys(options: { readonly path: string }): DataKeyProvider {
  const { path } = options;
  const withKek = <T>(fn: (kek: Buffer) => T): T => {
    const kek = readKek(path);
    try {
      return fn(kek);
    } finally {
      kek.fill(0);
    }
  };
  return {
    describe: `key-encryption key file ${path}`,
    generateDataKey(context) {
      return Promise.resolve(
        withKek((kek) => {
          const plaintext = randomBytes(32);
          const iv = randomBytes(12);
          const cipher = createCipheriv('aes-256-gcm', kek, iv);
          cipher.setAAD(Buffer.from(canonicalJson(context), 'utf8'));
          const wrapped = Buffer.concat([cipher.update(plaintext), cipher.final()]);
          const encrypted = Buffer.concat([
            Buffer.from([WRAP_VERSION]),
            iv,
            cipher.getAuthTag(),
            wrapped,
          ]);
          return { keyId: localKeyId(kek), plaintext, encrypted };
        }),
      );
    },
    decryptDataKey({ keyId, encrypted, context }) {
      return Promise.resolve(
        withKek((kek) => {
          const own = localKeyId(kek);
          if (
            keyId.length !== own.length ||
            !timingSafeEqual(Buffer.from(keyId), Buffer.from(own))
          ) {
            throw invalid(`sealed under key ${keyId.slice(0, 40)}, not under ${path} (${own})`);
          }
          if (encrypted.length !== 1 + 12 + 16 + 32 || encrypted[0] !== WRAP_VERSION) {
            throw invalid('sealed credentials: the wrapped data key is malformed');
          }
          // GCM deciphers everything in update(); no concat, so the only copy is the one the
          // caller wipes (or this one, when it does not authenticate).
          let dataKey: Buffer | undefined;
          try {
            const decipher = createDecipheriv('aes-256-gcm', kek, encrypted.subarray(1, 13));
            decipher.setAAD(Buffer.from(canonicalJson(context), 'utf8'));
            decipher.setAuthTag(encrypted.subarray(13, 29));
            dataKey = decipher.update(encrypted.subarray(29));
            decipher.final();
            return dataKey;
          } catch {
            dataKey?.fill(0);
            throw invalid(
              'sealed credentials: the data key does not decrypt under this encryption context',
            );
          }
        }),
      );
    },
  };
}
