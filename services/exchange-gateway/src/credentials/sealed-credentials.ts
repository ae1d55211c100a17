// Envelope-encrypted exchange credentials. Sealing asks the DataKeyProvider (KMS or a local
// key-encryption key) for a fresh 256-bit data key bound to an encryption context naming the
// gateway and the exchange, encrypts the key and secret locally with AES-256-GCM (the context is
// the associated data), writes
//   { v, keyId, encryptedDataKey, iv, tag, ciphertext, context }      (binary fields base64)
// and wipes the plaintext data key. Opening checks the context against the one this gateway
// expects BEFORE anything is decrypted, then decrypts with the expected context (never the
// file's), so a file edited to name another gateway or exchange fails either way.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson, Identifier } from '@countersign/contracts';
import { GatewayError } from '../errors.ts';
import type { DataKeyProvider, EncryptionContext } from './data-keys.ts';
import { ExchangeCredentials } from './exchange-credentials.ts';

export const SEALED_CREDENTIALS_VERSION = 1;
/** The `purpose` of the encryption context: this key material is for nothing else. */
export const CREDENTIALS_PURPOSE = 'countersign-exchange-credentials';

/** The encryption context of one gateway's credentials for one exchange (the IAM condition). */
export function credentialsContext(gatewayId: string, exchangeName: string): EncryptionContext {
  return { purpose: CREDENTIALS_PURPOSE, gateway: gatewayId, exchange: exchangeName };
}

const b64 = (min: number, max: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')
    .refine((s) => {
      const n = Buffer.from(s, 'base64').length;
      return n >= min && n <= max;
    }, `must decode to ${min}-${max} bytes`);

export const SealedCredentials = z.strictObject({
  v: z.literal(SEALED_CREDENTIALS_VERSION),
  keyId: z.string().min(1).max(2048),
  encryptedDataKey: b64(1, 1024),
  iv: b64(12, 12),
  tag: b64(16, 16),
  ciphertext: b64(4, 4096),
  context: z.strictObject({
    purpose: z.literal(CREDENTIALS_PURPOSE),
    gateway: Identifier,
    exchange: Identifier,
  }),
});
export type SealedCredentials = z.infer<typeof SealedCredentials>;

function invalid(message: string, cause?: unknown): GatewayError<'CREDENTIALS_INVALID'> {
  return new GatewayError('CREDENTIALS_INVALID', message, cause === undefined ? {} : { cause });
}

// Payload layout: version(1) | apiKey length (u16 BE) | apiKey | secret. Binary, so the secret
// is never a JS string on either side.
const PAYLOAD_VERSION = 1;

function encodePayload(apiKey: Buffer, secret: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = PAYLOAD_VERSION;
  head.writeUInt16BE(apiKey.length, 1);
  return Buffer.concat([head, apiKey, secret]);
}

function decodePayload(payload: Buffer): ExchangeCredentials {
  if (payload.length < 3 || payload[0] !== PAYLOAD_VERSION) {
    throw invalid('sealed credentials: unknown payload version');
  }
  const keyLength = payload.readUInt16BE(1);
  if (3 + keyLength >= payload.length) throw invalid('sealed credentials: truncated payload');
  return ExchangeCredentials.fromBytes(
    payload.subarray(3, 3 + keyLength),
    payload.subarray(3 + keyLength),
  );
}

export interface SealInput {
  readonly dataKeys: DataKeyProvider;
  readonly context: EncryptionContext;
  /** Raw bytes as read (stdin, prompt); wiped here once sealed. */
  readonly apiKey: Buffer;
  readonly secret: Buffer;
}

export async function sealCredentials(input: SealInput): Promise<SealedCredentials> {
  const { dataKeys, context, apiKey, secret } = input;
  let payload: Buffer | undefined;
  try {
    ExchangeCredentials.fromBytes(apiKey, secret); // same checks as on opening
    payload = encodePayload(apiKey, secret);
    const dataKey = await dataKeys.generateDataKey(context);
    try {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', dataKey.plaintext, iv);
      cipher.setAAD(Buffer.from(canonicalJson(context), 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
      return SealedCredentials.parse({
        v: SEALED_CREDENTIALS_VERSION,
        keyId: dataKey.keyId,
        encryptedDataKey: dataKey.encrypted.toString('base64'),
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        ciphertext: ciphertext.toString('base64'),
        context,
      });
    } finally {
      dataKey.plaintext.fill(0);
    }
  } finally {
    payload?.fill(0);
    apiKey.fill(0);
    secret.fill(0);
  }
}

/** Parses the unverified text of a sealed file (JSON, schema) without decrypting anything. */
export function parseSealedCredentials(unverifiedText: string): SealedCredentials {
  let json: unknown;
  try {
    json = JSON.parse(unverifiedText);
  } catch {
    throw invalid('sealed credentials: not JSON');
  }
  const parsed = SealedCredentials.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw invalid(
      `sealed credentials: ${first ? `${first.path.join('.') || 'file'} ${first.message}` : 'invalid'}`,
    );
  }
  return parsed.data;
}

export interface OpenInput {
  readonly sealed: SealedCredentials;
  readonly dataKeys: DataKeyProvider;
  /** What this gateway expects: credentialsContext(its id, its exchange's name). */
  readonly context: EncryptionContext;
}

export async function openCredentials(input: OpenInput): Promise<ExchangeCredentials> {
  const { sealed, dataKeys, context } = input;
  if (canonicalJson(sealed.context) !== canonicalJson(context)) {
    throw invalid(
      `sealed credentials are for gateway "${sealed.context.gateway}" and exchange "${sealed.context.exchange}", ` +
        `not for gateway "${context.gateway ?? ''}" and exchange "${context.exchange ?? ''}"`,
    );
  }
  const dataKey = await dataKeys.decryptDataKey({
    keyId: sealed.keyId,
    encrypted: Buffer.from(sealed.encryptedDataKey, 'base64'),
    context,
  });
  let payload: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(canonicalJson(context), 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    try {
      // GCM deciphers everything in update(): no concat, so `payload` is the only copy (wiped
      // below, also when it does not authenticate).
      payload = decipher.update(Buffer.from(sealed.ciphertext, 'base64'));
      decipher.final();
    } catch (err) {
      throw invalid('sealed credentials: the ciphertext does not authenticate', err);
    }
    return decodePayload(payload);
  } finally {
    dataKey.fill(0);
    payload?.fill(0);
  }
}
