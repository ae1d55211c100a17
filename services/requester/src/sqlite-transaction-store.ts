// SQLite adapter of the TransactionStore (embedded mode): a table in `<dataDir>/requester.sqlite`,
// on the connection and group commit the Idempotency-Key records use (requester-db.ts), so
// remembering the orders of one event-loop turn is one more statement in a transaction that
// commits anyway. Rows are keyed (jti, iss): this requester's jtis start with their creation
// time, so inserts append at the end of the key range, and old rows go by a range delete.
import { Outcomes, newJti } from '@countersign/contracts';
import type { Clock, Outcome } from '@countersign/contracts';
import { assertSharedMemoryIntact } from '@countersign/sqlite';
import { RequesterError } from './errors.ts';
import { openRequesterDb } from './requester-db.ts';
import { storeFailed } from './sqlite-idempotency-store.ts';
import {
  TRANSACTION_TTL_MS,
  receiptReplaces,
  type OrderRef,
  type TransactionRecord,
  type TransactionStore,
} from './transaction-store.ts';

export interface SqliteTransactionStoreOptions {
  readonly path: string;
  readonly clock: Clock;
  readonly ttlMs?: number;
  readonly busyTimeoutMs?: number;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS transactions (
  iss TEXT NOT NULL,
  jti TEXT NOT NULL,
  account TEXT NOT NULL,
  outcome TEXT,
  receipt TEXT,
  PRIMARY KEY (jti, iss)
) WITHOUT ROWID`;

interface Row {
  account: string;
  outcome: string | null;
  receipt: string | null;
}

const OUTCOMES: ReadonlySet<string> = new Set(Object.values(Outcomes));

/** Purge old rows every this many remembered orders. */
const PURGE_EVERY = 10_000;

export function createSqliteTransactionStore(
  options: SqliteTransactionStoreOptions,
): TransactionStore {
  const ttlMs = options.ttlMs ?? TRANSACTION_TTL_MS;
  const where = `transaction store ${options.path}`;
  const failed = (what: string, err: unknown): Error => storeFailed(where, what, err);
  const closedError = () =>
    new RequesterError('STORE_FAILED', `${where}: the store is closed`, {
      details: { retryable: false },
    });
  const handle = openRequesterDb(options.path, options);
  const { db, group } = handle;
  try {
    db.exec(SCHEMA);
  } catch (err) {
    handle.close();
    throw failed('opening', err);
  }
  const insert = db.prepare<[string, string, string]>(
    'INSERT INTO transactions (jti, iss, account) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const select = db.prepare<[string, string], Row>(
    'SELECT account, outcome, receipt FROM transactions WHERE jti = ? AND iss = ?',
  );
  // A receipt for an order without a row (signed by an older version) creates it.
  const putReceipt = db.prepare<[string, string, string, string, string]>(
    `INSERT INTO transactions (jti, iss, account, outcome, receipt) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (jti, iss) DO UPDATE SET outcome = excluded.outcome, receipt = excluded.receipt`,
  );
  // Our jtis begin with their creation time (8 sorted characters): older ones sort first.
  const purge = db.prepare<[string]>('DELETE FROM transactions WHERE jti < ?');
  let remembered = 0;
  let closed = false;

  const run = <T>(what: string, fn: () => T): Promise<T> =>
    (closed ? Promise.reject(closedError()) : group.run(fn)).catch((err: unknown) => {
      throw failed(what, err);
    });

  const toRecord = (ref: OrderRef, row: Row): TransactionRecord => {
    if (row.outcome !== null && !OUTCOMES.has(row.outcome)) {
      throw new RequesterError('STORE_FAILED', `${where}: a stored outcome is corrupt`);
    }
    return {
      iss: ref.iss,
      jti: ref.jti,
      account: row.account,
      outcome: row.outcome as Outcome | null,
      storedReceipt: row.receipt,
    };
  };

  return {
    remember: (orders) =>
      orders.length === 0
        ? Promise.resolve()
        : run('remember', () => {
            for (const o of orders) insert.run(o.jti, o.iss, o.account);
            remembered += orders.length;
            if (remembered >= PURGE_EVERY) {
              remembered = 0;
              purge.run(newJti(options.clock.now() - ttlMs).slice(0, 8));
            }
          }),

    putReceipts: (receipts) =>
      receipts.length === 0
        ? Promise.resolve([])
        : run('putReceipts', () => {
            const changed: OrderRef[] = [];
            for (const r of receipts) {
              const stored = select.get(r.jti, r.iss);
              if (!receiptReplaces(stored ? toRecord(r, stored).outcome : null, r.outcome)) {
                continue;
              }
              putReceipt.run(r.jti, r.iss, r.account, r.outcome, r.receipt);
              changed.push({ iss: r.iss, jti: r.jti });
            }
            return changed;
          }),

    get(ref) {
      if (closed) return Promise.reject(closedError());
      try {
        assertSharedMemoryIntact(db); // a read outside group commit: no SIGBUS on a cut -shm
        const row = select.get(ref.jti, ref.iss);
        return Promise.resolve(row && toRecord(ref, row));
      } catch (err) {
        return Promise.reject(failed('get', err));
      }
    },

    close() {
      closed = true;
      try {
        handle.close(); // the last user of the file commits what is queued first
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(failed('close', err));
      }
    },
  };
}
