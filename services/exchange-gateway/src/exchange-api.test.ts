import { createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signatureMatches, signingInput, signRequest } from './exchange-api.ts';

describe('request signature', () => {
  const secret = createSecretKey(Buffer.from('test-secret'));
  const input = signingInput('1700000000000', 'post', '/api/v1/orders', '{"clientOrderId":"abc"}');

  it('is HMAC-SHA256 over timestamp + METHOD + path + body (vector computed with Python hmac)', () => {
    expect(input).toBe('1700000000000POST/api/v1/orders{"clientOrderId":"abc"}');
    expect(signRequest(secret, input)).toBe(
      'c9b733db76529d8d1b0335ce1be3a26bf4df94801d0ba1aef584a75ab38e981d',
    );
  });

  it('matches only the exact signature, in lower-case hex', () => {
    const good = signRequest(secret, input);
    expect(signatureMatches(secret, input, good)).toBe(true);
    expect(signatureMatches(secret, input, good.toUpperCase())).toBe(false);
    expect(signatureMatches(secret, input, good.slice(0, 63))).toBe(false);
    expect(signatureMatches(secret, `${input} `, good)).toBe(false);
    expect(signatureMatches(createSecretKey(Buffer.from('other')), input, good)).toBe(false);
  });
});
