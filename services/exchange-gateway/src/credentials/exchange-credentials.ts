// Exchange API credentials in memory: the key (sent in a header) and the secret as an HMAC
// KeyObject. Both sit in private fields, so logging, JSON.stringify or util.inspect of the
// object (or of anything holding it) shows neither; the secret never becomes a JS string.
import { createSecretKey, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors.ts';

/** API keys are printable ASCII without spaces (they travel in an HTTP header). */
const API_KEY = /^[\x21-\x7e]{1,256}$/;
const MAX_SECRET_BYTES = 1024;

export class ExchangeCredentials {
  readonly #apiKey: string;
  readonly #secret: KeyObject;

  private constructor(apiKey: string, secret: KeyObject) {
    this.#apiKey = apiKey;
    this.#secret = secret;
  }

  /**
   * From raw bytes (stdin, a decrypted payload). The secret bytes are copied into a KeyObject
   * and then wiped by the caller; the key must be printable ASCII.
   */
  static fromBytes(apiKey: Buffer, secret: Buffer): ExchangeCredentials {
    const key = apiKey.toString('latin1');
    if (!API_KEY.test(key)) {
      throw new GatewayError(
        'CREDENTIALS_INVALID',
        'the API key must be 1-256 printable ASCII characters without spaces',
      );
    }
    if (secret.length === 0 || secret.length > MAX_SECRET_BYTES) {
      throw new GatewayError(
        'CREDENTIALS_INVALID',
        `the API secret must be 1-${MAX_SECRET_BYTES} bytes`,
      );
    }
    return new ExchangeCredentials(key, createSecretKey(secret));
  }

  get apiKey(): string {
    return this.#apiKey;
  }

  /** The HMAC key; only the request signer and the simulator's verifier use it. */
  get secret(): KeyObject {
    return this.#secret;
  }

  toJSON(): string {
    return '[ExchangeCredentials]';
  }

  toString(): string {
    return '[ExchangeCredentials]';
  }
}
