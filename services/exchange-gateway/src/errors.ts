// Errors of the exchange gateway. Callers switch on `code` (a closed union from contracts).
import { CountersignError, isCountersignError } from '@countersign/contracts';
import type { ErrorCode, SafeDetails } from '@countersign/contracts';

export class GatewayError<C extends ErrorCode = ErrorCode> extends CountersignError<C> {
  constructor(code: C, message: string, options: { cause?: unknown; details?: SafeDetails } = {}) {
    super(code, message, options);
    this.name = 'GatewayError';
  }
}

/** The exchange did not answer in time: the order may or may not exist (receipt UNKNOWN). */
export function exchangeTimeout(
  clientOrderId: string,
  cause?: unknown,
): GatewayError<'EXCHANGE_TIMEOUT'> {
  return new GatewayError('EXCHANGE_TIMEOUT', 'the exchange did not answer in time', {
    cause,
    details: { clientOrderId },
  });
}

export function isExchangeTimeout(err: unknown): boolean {
  return isCountersignError(err) && err.code === 'EXCHANGE_TIMEOUT';
}

export function hasCode(err: unknown, code: ErrorCode): boolean {
  return isCountersignError(err) && err.code === code;
}

// One structural check for verifier failures, shared with audit (re-exported for the pipeline).
export { verificationCodeOf } from '@countersign/contracts';
