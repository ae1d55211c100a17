// Retry with capped exponential backoff and full jitter (contracts' backoffDelayMs), for
// side-effect-free calls only (signing a receipt, reading the exchange). Never around place().
// The backoff sleeps on the injected clock, like every other wait of the pipeline.
import { backoffDelayMs, sleepOn, type Clock } from '@countersign/contracts';

export interface RetryOptions {
  /** Total attempts including the first. Default 6. */
  readonly attempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Which errors are worth retrying. Default: all. */
  readonly retryable?: (err: unknown) => boolean;
  readonly onRetry?: (err: unknown, attempt: number) => void;
}

export async function retrying<T>(
  fn: () => Promise<T>,
  clock: Clock,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 6;
  const base = options.baseDelayMs ?? 50;
  const cap = options.maxDelayMs ?? 2000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || (options.retryable && !options.retryable(err))) throw err;
      options.onRetry?.(err, attempt);
      await sleepOn(clock, backoffDelayMs(attempt - 1, base, cap));
    }
  }
}
