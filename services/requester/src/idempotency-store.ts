// The IdempotencyStore port (Idempotency-Key of the HTTP API) and its in-memory adapter.
//
// Record states, per (scope = API key name, key):
//
//   begin ──▶ IN_PROGRESS ──complete(response)──▶ COMPLETED ──(24 h)──▶ gone
//                 │  └──release() (the request failed) ──▶ gone
//                 └──lease expired (the process died mid-request) ──▶ the next begin takes it over
//
// A begin with the same key and the same body hash on a COMPLETED record replays its response;
// a different body hash is a conflict, whatever the state.
import type { Clock } from '@countersign/contracts';

/** Keys are kept 24 h (the retry window promised to clients). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** An IN_PROGRESS record older than this is presumed abandoned. */
export const IDEMPOTENCY_LEASE_MS = 60 * 1000;

export interface StoredResponse {
  readonly status: number;
  /** The JSON body returned the first time ({ jti, messageId }, or the batch results). */
  readonly body: unknown;
}

export type BeginResult =
  | { readonly state: 'new' }
  | { readonly state: 'replay'; readonly response: StoredResponse }
  | { readonly state: 'conflict' }
  | { readonly state: 'in_progress' };

export interface IdempotencyStore {
  /** Atomically reserves (scope, key) for a body hash, or reports what is already there. */
  begin(scope: string, key: string, bodySha256: string): Promise<BeginResult>;
  complete(scope: string, key: string, response: StoredResponse): Promise<void>;
  /** Drops an IN_PROGRESS reservation (the request failed, a retry may go ahead). */
  release(scope: string, key: string): Promise<void>;
  close?(): Promise<void>;
}

export interface IdempotencyStoreOptions {
  readonly clock: Clock;
  readonly ttlMs?: number;
  readonly leaseMs?: number;
}

interface MemoryRecord {
  bodySha256: string;
  createdAt: number;
  response: StoredResponse | null;
}

/** Decides what a begin finds, shared by the adapters so they behave the same. */
export function classify(
  existing: { bodySha256: string; createdAt: number; response: StoredResponse | null } | undefined,
  bodySha256: string,
  now: number,
  ttlMs: number,
  leaseMs: number,
): BeginResult | 'take' {
  if (existing === undefined) return 'take';
  if (existing.response !== null && now - existing.createdAt >= ttlMs) return 'take';
  if (existing.response === null && now - existing.createdAt >= leaseMs) return 'take';
  if (existing.bodySha256 !== bodySha256) return { state: 'conflict' };
  if (existing.response === null) return { state: 'in_progress' };
  return { state: 'replay', response: existing.response };
}

export function createMemoryIdempotencyStore(options: IdempotencyStoreOptions): IdempotencyStore {
  const ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS;
  const leaseMs = options.leaseMs ?? IDEMPOTENCY_LEASE_MS;
  const records = new Map<string, MemoryRecord>();
  const id = (scope: string, key: string) => JSON.stringify([scope, key]);
  return {
    begin(scope, key, bodySha256) {
      const now = options.clock.now();
      const verdict = classify(records.get(id(scope, key)), bodySha256, now, ttlMs, leaseMs);
      if (verdict !== 'take') return Promise.resolve(verdict);
      records.set(id(scope, key), { bodySha256, createdAt: now, response: null });
      return Promise.resolve({ state: 'new' });
    },
    complete(scope, key, response) {
      const rec = records.get(id(scope, key));
      if (rec) rec.response = response;
      return Promise.resolve();
    },
    release(scope, key) {
      const rec = records.get(id(scope, key));
      if (rec && rec.response === null) records.delete(id(scope, key));
      return Promise.resolve();
    },
  };
}
