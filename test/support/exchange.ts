// Helpers for the exchange tests: credentials, a shared fake clock whose sleep moves time (so a
// Retry-After or a rate-limit refill happens without waiting), and orders.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TransactionRequest } from '@countersign/contracts';
import { ExchangeCredentials, type ExchangeOrder } from '@countersign/exchange-gateway';
import { SAMPLE_TXN } from './requester-fixtures.ts';

export function newCredentials(secret = randomBytes(24).toString('base64url')): {
  readonly credentials: ExchangeCredentials;
  readonly secret: string;
  readonly apiKey: string;
} {
  const apiKey = `key-${randomBytes(6).toString('hex')}`;
  return {
    credentials: ExchangeCredentials.fromBytes(Buffer.from(apiKey), Buffer.from(secret)),
    secret,
    apiKey,
  };
}

export interface SharedClock {
  now(): number;
  advance(ms: number): void;
  /** Moves the clock instead of waiting (resolves on the next turn). */
  sleep(ms: number): Promise<void>;
  readonly slept: number[];
}

export function sharedClock(start = Date.UTC(2026, 10, 25, 12, 0, 0)): SharedClock {
  let t = start;
  const slept: number[] = [];
  return {
    now: () => t,
    advance: (ms) => void (t += ms),
    sleep(ms) {
      slept.push(ms);
      t += ms;
      return new Promise((r) => setImmediate(r));
    },
    slept,
  };
}

export const TXN: TransactionRequest = SAMPLE_TXN;

/** A fresh order with a 34-character client order id, as clientOrderIdOf makes them. */
export function newOrder(txn: Partial<TransactionRequest> = {}, account = 'acct-1'): ExchangeOrder {
  return {
    clientOrderId: `cs${randomBytes(24).toString('base64url')}`,
    account,
    txn: { ...TXN, ...txn },
  };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
