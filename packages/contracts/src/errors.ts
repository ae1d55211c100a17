// The shared error base. Callers tell errors apart by `code` (a closed union), never by
// `instanceof`, which breaks across duplicate package copies.
import { VerificationCodes, type ErrorCode, type VerificationCode } from './codes.ts';

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
    errorCodeOf(err) !== undefined &&
    typeof (err as { details?: unknown }).details === 'object'
  );
}

/**
 * The string `code` of any error-like value (ours, SQLite's, Node's errno, AbortError's
 * ABORT_ERR), or undefined. Never trusts the shape.
 */
export function errorCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

const VERIFICATION_CODES: ReadonlySet<string> = new Set(Object.values(VerificationCodes));

/** The verifier's code when `err` is a token verification failure (structural, any copy). */
export function verificationCodeOf(err: unknown): VerificationCode | undefined {
  const code = errorCodeOf(err);
  return code !== undefined && VERIFICATION_CODES.has(code)
    ? (code as VerificationCode)
    : undefined;
}
