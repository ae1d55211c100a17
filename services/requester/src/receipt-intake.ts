// How the requester learns what happened to its orders: receipt events from the bus (embedded
// SQLite bus, or the SQS queue of its own EventBridge rule) are verified with the GATEWAY's keys
// and only then stored by request jti. Nothing on the bus is trusted: a receipt signed by another
// key, with a tampered payload, from another gateway, or not a receipt at all is never stored
// (counted as `rejected` and logged); a receipt for another requester's order is `ignored`.
//
// Per event, in order: detail schema → unverified `req.iss` is ours (else ignored without a
// signature check: the bus carries every requester's receipts) → verify (typ txn-receipt+jwt,
// iss = our gateway, signature, claims) → verified `req.iss` is ours with a jti and an account →
// store. A failure to load the keys or to store is thrown: the caller does not acknowledge the
// batch, and it comes back.
import {
  ReceiptEventDetail,
  TokenTypes,
  systemClock,
  type Clock,
  type ReceiptClaims,
} from '@countersign/contracts';
import {
  createVerifier,
  decodeUnverified,
  isVerificationError,
  type KeyResolver,
  type Verifier,
} from '@countersign/verifier';
import type { Logger } from 'pino';
import type { ReceiptSignals } from './receipt-signals.ts';
import { orderKey, type TransactionStore, type VerifiedReceipt } from './transaction-store.ts';

/** The bus bounds a receipt at 16 KB (ReceiptEventDetail). */
const MAX_RECEIPT_BYTES = 16_384;

/** The verifier of the gateway's receipts: its keys, and `iss` = that gateway only. */
export function createReceiptVerifier(options: {
  readonly keys: KeyResolver;
  readonly gatewayId: string;
  readonly clockSkewSec?: number;
  readonly clock?: Clock;
}): Verifier<ReceiptClaims> {
  return createVerifier({
    keys: options.keys,
    issuers: [options.gatewayId],
    audience: null, // receipts have none
    typ: TokenTypes.RECEIPT,
    maxTokenBytes: MAX_RECEIPT_BYTES,
    ...(options.clockSkewSec === undefined ? {} : { clockSkewSec: options.clockSkewSec }),
    clock: options.clock ?? systemClock,
  });
}

export interface IntakeResult {
  /** Receipts stored (or already stored: duplicates count here too). */
  readonly accepted: number;
  /** Other requesters' receipts. */
  readonly ignored: number;
  /** Events that are not verifiable receipts of our gateway: never stored. */
  readonly rejected: number;
}

export interface ReceiptIntake {
  /** Verifies and stores a batch of event details; throws when it should be retried. */
  ingest(details: readonly unknown[]): Promise<IntakeResult>;
}

export interface ReceiptIntakeOptions {
  /** This requester's id: only receipts of its own requests are stored. */
  readonly issuer: string;
  readonly verifier: Verifier<ReceiptClaims>;
  readonly store: TransactionStore;
  /** Woken for each order whose receipt changed (long polls in this process). */
  readonly signals?: ReceiptSignals;
  readonly logger: Logger;
}

type Checked =
  | { readonly kind: 'ignored' }
  | { readonly kind: 'rejected'; readonly why: string }
  | { readonly kind: 'receipt'; readonly receipt: VerifiedReceipt };

export function createReceiptIntake(options: ReceiptIntakeOptions): ReceiptIntake {
  const { issuer, verifier, store, logger } = options;

  async function check(detail: unknown): Promise<Checked> {
    const event = ReceiptEventDetail.safeParse(detail);
    if (!event.success) return { kind: 'rejected', why: 'not a receipt event' };
    const token = event.data.receipt;
    const unverifiedReq = decodeUnverified(token)?.req as { iss?: unknown } | undefined;
    if (unverifiedReq?.iss !== issuer) return { kind: 'ignored' };
    let claims: ReceiptClaims;
    try {
      ({ claims } = await verifier.verify(token));
    } catch (err) {
      if (isVerificationError(err)) return { kind: 'rejected', why: err.code };
      throw err; // keys unavailable: retry the batch later
    }
    const { req } = claims;
    if (req.iss !== issuer || req.jti === null || req.sub === null) {
      return { kind: 'rejected', why: 'the verified receipt names no order of this requester' };
    }
    return {
      kind: 'receipt',
      receipt: {
        iss: req.iss,
        jti: req.jti,
        account: req.sub,
        outcome: claims.outcome,
        receiptJti: claims.jti,
        receipt: token,
      },
    };
  }

  return {
    async ingest(details) {
      // Signatures are checked in parallel (on the thread pool when several are in flight).
      const checked = await Promise.all(details.map(check));
      const receipts: VerifiedReceipt[] = [];
      let ignored = 0;
      let rejected = 0;
      for (const c of checked) {
        if (c.kind === 'receipt') receipts.push(c.receipt);
        else if (c.kind === 'ignored') ignored++;
        else {
          rejected++;
          logger.warn({ reason: c.why }, 'a receipt event failed verification: not stored');
        }
      }
      const changed = await store.putReceipts(receipts);
      options.signals?.notify(changed.map(orderKey));
      return { accepted: receipts.length, ignored, rejected };
    },
  };
}
