// Ports owned by the gateway: the Exchange it executes on, where checkpoints go, and logging.
import type { Fill, TransactionRequest } from '@countersign/contracts';

export interface ExchangeOrder {
  /** Idempotency key at the exchange: clientOrderIdOf(iss, jti), unique per request (not per bare jti). */
  readonly clientOrderId: string;
  readonly account: string;
  readonly txn: TransactionRequest;
}

export type ExecResult =
  | { readonly status: 'FILLED'; readonly fills: readonly Fill[] }
  | { readonly status: 'REJECTED'; readonly reason: string };

/**
 * An exchange that dedups by client order id: placing the same id twice returns the first
 * result and never fills twice. A timeout surfaces as a CountersignError EXCHANGE_TIMEOUT
 * (the order may exist: reconcile with getOrder).
 */
export interface Exchange {
  place(order: ExchangeOrder, signal?: AbortSignal): Promise<ExecResult>;
  getOrder(clientOrderId: string, signal?: AbortSignal): Promise<ExecResult | undefined>;
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
