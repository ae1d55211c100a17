// A read-only view of the embedded nonce store for audit reconcile: which requests are still
// IN_PROGRESS, and until when their lease runs. It opens the file read-only (never creates,
// migrates or writes it), so it can run beside a live gateway, and reads only `key`, `state`
// and `lease_until`, the columns every version of the table has.
import { describeSqliteFailure, openSqlite } from '@countersign/sqlite';
import { storeError } from './errors.ts';

export interface InProgressEntry {
  /** The nonce key (`iss#jti` for a request). */
  readonly key: string;
  /** Epoch ms the claim's lease runs (or ran) out. */
  readonly leaseUntil: number;
}

export interface NonceReader {
  /** Every IN_PROGRESS record now, ordered by key. */
  listInProgress(): Promise<InProgressEntry[]>;
  close(): Promise<void>;
}

export interface SqliteNonceReaderOptions {
  readonly path: string;
  readonly busyTimeoutMs?: number;
}

export function openSqliteNonceReader(options: SqliteNonceReaderOptions): NonceReader {
  // A missing or unreadable file is STORE_FAILED naming it (openSqlite).
  const db = openSqlite(options.path, {
    readonly: true,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  });
  const inProgress = db.prepare<[], { key: string; lease_until: number | null }>(
    `SELECT key, lease_until FROM nonces WHERE state = 'IN_PROGRESS' ORDER BY key`,
  );
  let closed = false;
  return {
    listInProgress() {
      if (closed) return Promise.reject(storeError('the nonce reader is closed'));
      try {
        return Promise.resolve(
          inProgress.all().map((r) => ({ key: r.key, leaseUntil: r.lease_until ?? 0 })),
        );
      } catch (cause) {
        const f = describeSqliteFailure('reading the IN_PROGRESS records', options.path, cause);
        return Promise.reject(storeError(f.message, f.details, cause));
      }
    },
    close() {
      if (!closed) {
        closed = true;
        db.close();
      }
      return Promise.resolve();
    },
  };
}
