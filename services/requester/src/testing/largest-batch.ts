// The largest record the HTTP API can ask an idempotency store to keep: a batch of
// MAX_BATCH_ITEMS requests, each signed by the real requester with the longest ids, the longest
// txn fields (a clientRef of 64 '"', escaped to 128 characters in the claims) and the longest
// signature the signing package accepts (RS256 on RSA_4096: 512 bytes). Only the signature is a
// stand-in: its length is what matters here.
import { randomBytes } from 'node:crypto';
import type { Signer } from '@countersign/signing';
import type { Queue } from '@countersign/transport';
import { MAX_BATCH_ITEMS } from '../http-app.ts';
import type { FixedRequest } from '../idempotency-store.ts';
import { createRequester } from '../requester.ts';

const longest = (c: string) => c.repeat(64);

const stubRsa4096: Signer = {
  alg: 'RS256',
  kid: 'k'.repeat(43), // an RFC 7638 thumbprint: base64url of a SHA-256
  publicJwk: { kty: 'RSA', kid: 'k'.repeat(43), alg: 'RS256', use: 'sig' },
  sign: () => Promise.resolve(randomBytes(512)),
};

const nothingSent = () => Promise.reject(new Error('largestBatch sends nothing'));
const noQueue: Queue = {
  maxReceives: 1,
  send: nothingSent,
  sendBatch: nothingSent,
  receive: nothingSent,
  delete: nothingSent,
  changeVisibility: nothingSent,
};

export const LARGEST_TXN = {
  type: 'order',
  side: 'sell',
  symbol: `${'A'.repeat(12)}-${'B'.repeat(12)}`,
  quantity: `${'9'.repeat(12)}.${'9'.repeat(8)}`,
  limitPrice: `${'9'.repeat(12)}.${'9'.repeat(8)}`,
  timeInForce: 'GTC',
  clientRef: longest('"'),
} as const;

export async function largestBatch(): Promise<FixedRequest[]> {
  const requester = createRequester({
    signer: stubRsa4096,
    queue: noQueue,
    issuer: longest('i'),
    audience: longest('a'),
    lifetimeSec: 300,
    clock: { now: () => 9_999_999_999_000 },
  });
  const signed = await requester.signMany(
    Array.from({ length: MAX_BATCH_ITEMS }, (_, i) => ({
      account: `${String(i).padStart(3, '0')}${'x'.repeat(61)}`,
      txn: LARGEST_TXN,
    })),
  );
  return signed.map((s): FixedRequest => {
    if (!s.ok) throw new Error(`largestBatch: ${s.code} ${s.message}`);
    return { ok: true, jti: s.jti, account: s.account, token: s.token };
  });
}
