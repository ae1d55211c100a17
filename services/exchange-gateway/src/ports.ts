// Ports owned by the gateway: the Exchange it executes on, where checkpoints go, and logging.
import type { Fill, TransactionRequest } from '@countersign/contracts';

export interface ExchangeOrder {
  /** Idempotency key at the exchange: the request's jti. */
  readonly clientOrderId: string;
  readonly account: string;
  readonly txn: TransactionRequest;
}

export type ExecResult =
  | { readonly status: 'FILLED'; readonly fills: readonly Fill[] }
  | { readonly status: 'REJECTED'; readonly reason: string };

/** An order as the exchange records it (for reconciliation against the receipts). */
export interface ListedOrder {
  readonly clientOrderId: string;
  readonly account: string;
  /** Epoch ms the exchange recorded the order; null when it did not (older records). */
  readonly placedAt: number | null;
  readonly result: ExecResult;
}

export interface ListOrdersOptions {
  /** Epoch ms, inclusive: orders placed at or after. */
  readonly from: number;
  /** Epoch ms, exclusive. */
  readonly to: number;
  readonly signal?: AbortSignal;
}

/**
 * An exchange that dedups by client order id: placing the same id twice returns the first
 * result and never fills twice. A timeout surfaces as a CountersignError EXCHANGE_TIMEOUT
 * (the order may exist: reconcile with getOrder).
 */
export interface Exchange {
  place(order: ExchangeOrder, signal?: AbortSignal): Promise<ExecResult>;
  getOrder(clientOrderId: string, signal?: AbortSignal): Promise<ExecResult | undefined>;
  /**
   * The orders placed in [from, to), oldest first, in pages (audit reconcile). Optional: an
   * exchange that cannot list its orders cannot be reconciled.
   */
  listOrders?(options: ListOrdersOptions): AsyncIterable<ListedOrder>;
  close?(): Promise<void>;
}

/** Where signed checkpoints live, outside the event bus (file in embedded mode; S3 Object Lock in AWS). */
export interface CheckpointStore {
  /** Stores the checkpoint of a stream unless a newer one (higher seq) is already there. */
  put(stream: string, seq: number, token: string): Promise<void>;
  get(stream: string): Promise<string | undefined>;
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
