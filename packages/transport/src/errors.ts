// Errors of the transport adapters. Callers switch on `code`; SDK failures are converted here,
// at the adapter boundary, into one shape: { code (the SDK's error name), retryable, requestId }.
import { CountersignError, errorCodeOf } from '@countersign/contracts';
import type { SafeDetails } from '@countersign/contracts';

export type QueueError = CountersignError<'QUEUE_FAILED'>;
export type BusError = CountersignError<'BUS_FAILED'>;

export function queueError(
  message: string,
  details: SafeDetails = {},
  cause?: unknown,
): QueueError {
  return new CountersignError('QUEUE_FAILED', message, { details, cause });
}

export function busError(message: string, details: SafeDetails = {}, cause?: unknown): BusError {
  return new CountersignError('BUS_FAILED', message, { details, cause });
}

/** A body from the audit queue that is not an EventBridge event envelope. */
export class EventEnvelopeError extends CountersignError<'MALFORMED'> {
  constructor(message: string, cause?: unknown) {
    super('MALFORMED', message, { cause });
    this.name = 'EventEnvelopeError';
  }
}

// The SDK error classifier is shared by every adapter (DynamoDB and KMS too): it lives in
// contracts and is re-exported here for this package's callers.
export { describeSdkError } from '@countersign/contracts';
export type { SdkErrorInfo } from '@countersign/contracts';

export function isAbortError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    ((err as { name?: unknown }).name === 'AbortError' || errorCodeOf(err) === 'ABORT_ERR')
  );
}
