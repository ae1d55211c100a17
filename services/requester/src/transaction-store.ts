// The TransactionStore port: what the requester knows of each order it signed, so that
// GET /v1/transactions/{jti} can answer "queued" or "receipted" and scope the answer by account.
//
//   sign ──remember(iss, jti, account)──▶ QUEUED ──verified receipt──▶ RECEIPTED (outcome)
//     (durable before the order is sent)              └── UNKNOWN ──verified follow-up──▶ final outcome
//
// `remember` runs when a request is signed, before it can be sent, so a jti the caller was given
// is always known. Receipts come from the receipt bus, verified with the gateway's keys first
// (receipt-intake.ts); a receipt for a jti without a record (signed before this version) creates
// it with the receipt's verified `req.sub` as the account. A stored receipt is replaced only by a
// final one for an UNKNOWN (`receiptReplaces`); duplicates and anything else change nothing.
// Records are kept TRANSACTION_TTL_MS from their first write.
import type { Outcome } from '@countersign/contracts';

/** As long as the gateway keeps completed nonce records (SQS's longest retention). */
export const TRANSACTION_TTL_MS = 14 * 24 * 60 * 60 * 1000;

/** An order of this requester: its `iss` and the request's `jti`. */
export interface OrderRef {
  readonly iss: string;
  readonly jti: string;
}

/** What `remember` keeps: the order and the account it acts for (the token's `sub`). */
export interface SubmittedOrder extends OrderRef {
  readonly account: string;
}

/** A receipt whose signature, issuer and claims were verified; keyed by its request. */
export interface VerifiedReceipt extends SubmittedOrder {
  readonly outcome: Outcome;
  /** The receipt's own jti. */
  readonly receiptJti: string;
  /** The compact JWS, as the gateway signed it. */
  readonly receipt: string;
}

/** What a store returns. The receipt is read back from storage: verify it before serving it. */
export interface TransactionRecord extends SubmittedOrder {
  readonly outcome: Outcome | null;
  readonly storedReceipt: string | null;
}

export interface TransactionStore {
  /** Keeps each order (idempotent: remembering one again changes nothing); durable on resolve. */
  remember(orders: readonly SubmittedOrder[]): Promise<void>;
  /** Stores receipts by request; returns the orders whose stored receipt changed. */
  putReceipts(receipts: readonly VerifiedReceipt[]): Promise<OrderRef[]>;
  get(ref: OrderRef): Promise<TransactionRecord | undefined>;
  close?(): Promise<void>;
}

/** Whether a receipt with `incoming` outcome replaces what is stored (`null`: none yet). */
export function receiptReplaces(stored: Outcome | null, incoming: Outcome): boolean {
  return stored === null || (stored === 'UNKNOWN' && incoming !== 'UNKNOWN');
}

/** One string per order, for maps and notifications. */
export const orderKey = (ref: OrderRef): string => `${ref.iss}#${ref.jti}`;

/** The in-memory adapter (tests, benchmarks). */
export function createMemoryTransactionStore(): TransactionStore & {
  readonly size: number;
} {
  const records = new Map<string, TransactionRecord>();
  return {
    remember(orders) {
      for (const o of orders) {
        const key = orderKey(o);
        if (!records.has(key)) {
          records.set(key, { ...pick(o), outcome: null, storedReceipt: null });
        }
      }
      return Promise.resolve();
    },
    putReceipts(receipts) {
      const changed: OrderRef[] = [];
      for (const r of receipts) {
        const key = orderKey(r);
        const existing = records.get(key);
        if (!receiptReplaces(existing?.outcome ?? null, r.outcome)) continue;
        records.set(key, {
          ...pick(existing ?? r),
          outcome: r.outcome,
          storedReceipt: r.receipt,
        });
        changed.push({ iss: r.iss, jti: r.jti });
      }
      return Promise.resolve(changed);
    },
    get: (ref) => Promise.resolve(records.get(orderKey(ref))),
    get size() {
      return records.size;
    },
  };
}

const pick = (o: SubmittedOrder): SubmittedOrder => ({
  iss: o.iss,
  jti: o.jti,
  account: o.account,
});
