import { describe, expect, it } from 'vitest';
import { bearerToken, createApiKeyAuthenticator, generateApiKey, hashApiKey } from './api-keys.ts';

describe('API keys', () => {
  it('authenticates a key by its SHA-256 and returns its bound accounts', () => {
    const a = generateApiKey('bot-a', ['acct-1', 'acct-2']);
    const b = generateApiKey('bot-b', ['acct-3']);
    expect(a.entry.sha256).toBe(hashApiKey(a.key));
    expect(a.entry.sha256).toMatch(/^[0-9a-f]{64}$/);
    const auth = createApiKeyAuthenticator([a.entry, b.entry]);
    const p = auth.authenticate(a.key);
    expect(p?.name).toBe('bot-a');
    expect([...p!.accounts]).toEqual(['acct-1', 'acct-2']);
    expect(auth.authenticate(b.key)?.name).toBe('bot-b');
  });

  it('rejects unknown keys, near misses and the hash itself', () => {
    const a = generateApiKey('bot-a', ['acct-1']);
    const auth = createApiKeyAuthenticator([a.entry]);
    expect(auth.authenticate(`${a.key}x`)).toBeNull();
    expect(auth.authenticate(a.key.slice(0, -1))).toBeNull();
    expect(auth.authenticate(a.entry.sha256)).toBeNull();
    expect(auth.authenticate('')).toBeNull();
    expect(createApiKeyAuthenticator([]).authenticate(a.key)).toBeNull();
  });

  it('parses only well-formed bearer headers', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken('Bearer ')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(`Bearer ${'x'.repeat(513)}`)).toBeNull();
  });
});
