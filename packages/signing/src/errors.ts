// Errors of the signing package. Callers switch on `code`; messages name keys by id, never material.
import { CountersignError, type SafeDetails } from '@countersign/contracts';

export type SigningCode =
  | 'DER_INVALID'
  | 'KEY_MISMATCH'
  | 'KEY_UNAVAILABLE'
  | 'KEY_EXISTS'
  | 'SIGNING_FAILED'
  | 'CONFIG_INVALID';

export class SigningError extends CountersignError<SigningCode> {
  constructor(
    code: SigningCode,
    message: string,
    options: { cause?: unknown; details?: SafeDetails } = {},
  ) {
    super(code, message, options);
    this.name = 'SigningError';
  }
}

/** DER/JOSE conversion failures: the code is always DER_INVALID, the message says why. */
export function derInvalid(reason: string): SigningError {
  return new SigningError('DER_INVALID', `invalid ECDSA signature encoding: ${reason}`, {
    details: { reason },
  });
}
