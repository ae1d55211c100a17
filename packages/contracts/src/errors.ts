// The shared error base. Callers tell errors apart by `code` (a closed union), never by
// `instanceof`, which breaks across duplicate package copies.
import type { ErrorCode } from './codes.ts';

export type SafeDetails = Readonly<
  Record<string, string | number | boolean | null | readonly string[]>
>;

export class CountersignError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  /** Safe to log and to return to a caller: never a key, a token body or a secret. */
  readonly details: SafeDetails;

  constructor(code: C, message: string, options: { cause?: unknown; details?: SafeDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CountersignError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** Structural check that works across package copies. */
export function isCountersignError(err: unknown): err is CountersignError {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    typeof (err as { details?: unknown }).details === 'object'
  );
}
