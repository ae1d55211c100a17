// SQLite adapter of the IdempotencyStore (embedded mode: `.countersign/requester.sqlite`).
// begin runs in an IMMEDIATE transaction, so two processes sharing the file never both reserve.
import { openSqlite } from '@countersign/sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { RequesterError } from './errors.ts';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_TTL_MS,
  classify,
  type IdempotencyStore,
  type IdempotencyStoreOptions,
  type StoredResponse,
} from './idempotency-store.ts';

interface Row {
  body_sha256: string;
  created_at: number;
  response: string | null;
}

export interface SqliteIdempotencyStoreOptions extends IdempotencyStoreOptions {
  readonly path: string;
}

export function createSqliteIdempotencyStore(
  options: SqliteIdempotencyStoreOptions,
): IdempotencyStore {
  const ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS;
  const leaseMs = options.leaseMs ?? IDEMPOTENCY_LEASE_MS;
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db = openSqlite(options.path);
  db.exec(`CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    response TEXT,
    PRIMARY KEY (scope, key)
  ) WITHOUT ROWID`);
  const select = db.prepare<[string, string], Row>(
    'SELECT body_sha256, created_at, response FROM idempotency_keys WHERE scope = ? AND key = ?',
  );
  const upsert = db.prepare<[string, string, string, number]>(
    `INSERT INTO idempotency_keys (scope, key, body_sha256, created_at, response)
     VALUES (?, ?, ?, ?, NULL)
     ON CONFLICT (scope, key) DO UPDATE SET
       body_sha256 = excluded.body_sha256, created_at = excluded.created_at, response = NULL`,
  );
  const setResponse = db.prepare<[string, string, string]>(
    'UPDATE idempotency_keys SET response = ? WHERE scope = ? AND key = ?',
  );
  const drop = db.prepare<[string, string]>(
    'DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND response IS NULL',
  );
  const purge = db.prepare<[number]>('DELETE FROM idempotency_keys WHERE created_at < ?');
  let begins = 0;

  const begin = db.transaction((scope: string, key: string, bodySha256: string) => {
    const now = options.clock.now();
    // Expired records are dropped now and then, not on every call.
    if (++begins % 1000 === 1) purge.run(now - ttlMs);
    const row = select.get(scope, key);
    const verdict = classify(
      row && {
        bodySha256: row.body_sha256,
        createdAt: row.created_at,
        response: row.response === null ? null : (JSON.parse(row.response) as StoredResponse),
      },
      bodySha256,
      now,
      ttlMs,
      leaseMs,
    );
    if (verdict !== 'take') return verdict;
    upsert.run(scope, key, bodySha256, now);
    return { state: 'new' } as const;
  });

  const guard = <T>(what: string, fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(
        new RequesterError('STORE_FAILED', `idempotency store: ${what} failed`, { cause: err }),
      );
    }
  };

  return {
    begin: (scope, key, bodySha256) =>
      guard('begin', () => begin.immediate(scope, key, bodySha256)),
    complete: (scope, key, response) =>
      guard('complete', () => void setResponse.run(JSON.stringify(response), scope, key)),
    release: (scope, key) => guard('release', () => void drop.run(scope, key)),
    close: () => guard('close', () => void db.close()),
  };
}
