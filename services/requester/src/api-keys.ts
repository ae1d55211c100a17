// Bearer API keys of the HTTP API. Configuration holds only the SHA-256 (hex) of each key; an
// incoming key is hashed and compared against every entry with timingSafeEqual over the
// fixed-size digests, without stopping at the first match, so timing says nothing about which
// entry (or how much of a hash) matched.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyEntry } from '@countersign/contracts';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random API key (256 bits, base64url) and the config entry that trusts it. */
export function generateApiKey(
  name: string,
  accounts: readonly string[],
): { key: string; entry: ApiKeyEntry } {
  const key = `cs_${randomBytes(32).toString('base64url')}`;
  return { key, entry: { name, sha256: hashApiKey(key), accounts: [...accounts] } };
}

export interface ApiKeyPrincipal {
  /** The entry's name: logged, and the idempotency scope. Never the key. */
  readonly name: string;
  readonly accounts: ReadonlySet<string>;
}

export interface ApiKeyAuthenticator {
  /** The principal of a presented key, or null when it matches no entry. */
  authenticate(presentedKey: string): ApiKeyPrincipal | null;
}

export function createApiKeyAuthenticator(entries: readonly ApiKeyEntry[]): ApiKeyAuthenticator {
  const table = entries.map((e) => ({
    digest: Buffer.from(e.sha256, 'hex'),
    principal: { name: e.name, accounts: new Set(e.accounts) } satisfies ApiKeyPrincipal,
  }));
  return {
    authenticate(presentedKey) {
      const digest = createHash('sha256').update(presentedKey, 'utf8').digest();
      let found: ApiKeyPrincipal | null = null;
      for (const entry of table) {
        if (timingSafeEqual(digest, entry.digest) && found === null) found = entry.principal;
      }
      return found;
    },
  };
}

/** The key of an `Authorization: Bearer <key>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer +([\x21-\x7e]{1,512}) *$/i.exec(header);
  return match?.[1] ?? null;
}
