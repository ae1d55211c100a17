// Shared fixtures of the requester's unit tests (not exported from the package).
import { generateKeyPairSync } from 'node:crypto';
import { createLocalSigner } from '@countersign/signing';
import type { Signer } from '@countersign/signing';

/** A valid order. */
export const SAMPLE_TXN = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.015',
  limitPrice: '64000.10',
  timeInForce: 'GTC',
} as const;

/** A fresh local ES256 signer (key generated at test time). */
export function newLocalSigner(): Promise<Signer> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return createLocalSigner({ privateKey, alg: 'ES256' });
}
