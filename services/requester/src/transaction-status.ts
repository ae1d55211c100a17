// What GET /v1/transactions/{jti} (and `countersign request status`) answer: the order's status,
// with the gateway's signed receipt once it is in, optionally waiting for it (long poll).
//
// - Scoping: an order the caller's accounts may not see is answered exactly like an unknown jti
//   (null → 404), after the same single read, so ids cannot be probed.
// - The receipt is verified again when served: the store is a file or a table like any other, and
//   a receipt that does not verify for this very order is never shown (the order stays "queued").
// - Waiting holds no thread and does not spin: it sleeps on the order's in-process signal (raised
//   by this process's receipt consumer) and re-reads the store every `pollMs` for receipts stored
//   by another process, until the receipt is in or the time is up.
import { errorCodeOf, type Clock, type Outcome, type ReceiptClaims } from '@countersign/contracts';
import type { Verifier } from '@countersign/verifier';
import type { Logger } from 'pino';
import type { ReceiptSignals } from './receipt-signals.ts';
import {
  orderKey,
  type OrderRef,
  type TransactionRecord,
  type TransactionStore,
} from './transaction-store.ts';

/** The longest an HTTP caller may wait for a receipt (`?wait=`), seconds. */
export const MAX_WAIT_SEC = 20;
/** How often a waiting request re-reads the store for receipts stored by other processes. */
export const DEFAULT_STATUS_POLL_MS = 1000;

export type TransactionView =
  | { readonly jti: string; readonly status: 'queued' }
  | {
      readonly jti: string;
      readonly status: 'receipted';
      readonly outcome: Outcome;
      /** Why, when not EXECUTED: a stable reason code (NOTIONAL_TOO_HIGH, ...). */
      readonly reason?: string;
      /** The gateway's signed receipt (compact JWS, typ txn-receipt+jwt). */
      readonly receipt: string;
    };

export interface FindOptions {
  /** Wait up to this long for the receipt. Default 0: answer at once. */
  readonly waitMs?: number;
  /** Ends a wait early (the caller went away). */
  readonly signal?: AbortSignal;
}

export interface TransactionStatus {
  /**
   * The order `jti` of this requester, if it exists and belongs to one of `accounts` (`'any'`: the
   * operator's CLI); null otherwise.
   */
  find(
    jti: string,
    accounts: ReadonlySet<string> | 'any',
    options?: FindOptions,
  ): Promise<TransactionView | null>;
}

export interface TransactionStatusOptions {
  readonly issuer: string;
  readonly store: TransactionStore;
  readonly verifier: Verifier<ReceiptClaims>;
  readonly signals: ReceiptSignals;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly pollMs?: number;
}

export function createTransactionStatus(options: TransactionStatusOptions): TransactionStatus {
  const { issuer, store, verifier, signals, clock, logger } = options;
  const pollMs = Math.max(1, options.pollMs ?? DEFAULT_STATUS_POLL_MS);

  async function view(record: TransactionRecord): Promise<TransactionView> {
    const queued = { jti: record.jti, status: 'queued' } as const;
    if (record.storedReceipt === null) return queued;
    let claims: ReceiptClaims;
    try {
      ({ claims } = await verifier.verify(record.storedReceipt));
    } catch (err) {
      const code = errorCodeOf(err);
      if (code === 'KEY_UNAVAILABLE') throw err; // 503, retry
      logger.error({ jti: record.jti, code }, 'a stored receipt failed verification: not served');
      return queued;
    }
    const { req } = claims;
    if (req.jti !== record.jti || req.iss !== record.iss || req.sub !== record.account) {
      logger.error({ jti: record.jti }, 'a stored receipt is for another order: not served');
      return queued;
    }
    return {
      jti: record.jti,
      status: 'receipted',
      outcome: claims.outcome,
      ...(claims.reason === undefined ? {} : { reason: claims.reason }),
      receipt: record.storedReceipt,
    };
  }

  return {
    async find(jti, accounts, { waitMs = 0, signal } = {}) {
      const ref: OrderRef = { iss: issuer, jti };
      let record = await store.get(ref);
      if (record === undefined || (accounts !== 'any' && !accounts.has(record.account))) {
        return null;
      }
      const deadline = clock.now() + Math.max(0, waitMs);
      const key = orderKey(ref);
      while (record.storedReceipt === null && !signal?.aborted) {
        const left = deadline - clock.now();
        if (left <= 0) break;
        await signals.wait(key, Math.min(left, pollMs), signal);
        record = (await store.get(ref)) ?? record;
      }
      return view(record);
    },
  };
}
