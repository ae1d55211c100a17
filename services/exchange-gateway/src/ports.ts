// Ports owned by the gateway: the Exchange it executes on, where checkpoints go, and logging.
import type { ExecResult, ListedOrder, TransactionRequest } from '@countersign/contracts';

export interface ExchangeOrder {
  /** Idempotency key at the exchange: clientOrderIdOf(iss, jti), unique per request (not per bare jti). */
  readonly clientOrderId: string;
  readonly account: string;
  readonly txn: TransactionRequest;
}

export type { ExecResult, ListedOrder } from '@countersign/contracts';

/** A period of placement times: epoch ms, `from` inclusive, `to` exclusive. */
export interface ListOrdersRange {
  readonly from: number;
  readonly to: number;
}

/**
 * An exchange that dedups by client order id: placing the same id twice returns the first
 * result and never fills twice. A timeout surfaces as a CountersignError EXCHANGE_TIMEOUT
 * (the order may exist: reconcile with getOrder).
 */
export interface Exchange {
  /**
   * How long after place() is called it may still send the order (its own deadline over all
   * attempts); absent: it sends at once when called (an in-process exchange). Honours `signal`.
   */
  readonly placeDeadlineMs?: number;
  place(order: ExchangeOrder, signal?: AbortSignal): Promise<ExecResult>;
  getOrder(clientOrderId: string, signal?: AbortSignal): Promise<ExecResult | undefined>;
  /**
   * The orders placed in [from, to), oldest first, every page (audit reconcile compares them
   * with the receipts). Optional: an exchange that cannot list its orders cannot be reconciled.
   */
  listOrders?(range: ListOrdersRange, signal?: AbortSignal): Promise<ListedOrder[]>;
  close?(): Promise<void>;
}

/** One stored checkpoint: its place in the stream's checkpoint chain and its token. */
export interface StoredCheckpoint {
  readonly index: number;
  /** As stored: unverified until checked against the gateway's keys. */
  readonly token: string;
}

/**
 * Where signed checkpoints live, outside the event bus: an append-only log (embedded, SQLite,
 * optionally mirrored to another directory) or S3 with versioning and Object Lock (AWS).
 */
export interface CheckpointStore {
  /** Appends checkpoint `index` of `stream`; false when that index exists (another writer won). */
  append(stream: string, checkpoint: StoredCheckpoint): Promise<boolean>;
  /** The newest `limit` checkpoints of a stream, newest first. */
  recent(stream: string, limit: number): Promise<readonly StoredCheckpoint[]>;
  /** Every stream that has a checkpoint. */
  streams(): Promise<readonly string[]>;
  close?(): Promise<void>;
}

/** The slice of a pino logger we use (tests pass a fake). Never log tokens. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
