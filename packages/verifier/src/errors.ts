// VerificationError: every way a token can fail, as one code from the closed list (DESIGN.md §5).
import {
  CountersignError,
  verificationCodeOf,
  type VerificationCode,
} from '@countersign/contracts';

export class VerificationError extends CountersignError<VerificationCode> {
  constructor(code: VerificationCode, message: string, details: { claim?: string } = {}) {
    super(code, message, { details });
    this.name = 'VerificationError';
  }
}

/** Structural check (works across duplicate package copies, unlike instanceof). */
export function isVerificationError(e: unknown): e is VerificationError {
  return (
    e instanceof Error &&
    e.name === 'VerificationError' &&
    verificationCodeOf(e) !== undefined &&
    typeof (e as { details?: unknown }).details === 'object'
  );
}

/** Shows a short, printable excerpt of an untrusted value in an error message. */
export function excerpt(value: unknown): string {
  const s = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 40)}…` : clean;
}
