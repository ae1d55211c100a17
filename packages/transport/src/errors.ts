// Errors of the transport adapters. Callers switch on `code`; SDK failures are converted here,
// at the adapter boundary, into one shape: { code (the SDK's error name), retryable, requestId }.
import { CountersignError } from '@countersign/contracts';
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

/** What the adapters need to know about an AWS SDK v3 error; everything optional. */
interface SdkErrorLike {
  name?: unknown;
  message?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown; requestId?: unknown };
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalError',
  'InternalServerError',
  'KMSInternalException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
]);

export interface SdkErrorInfo {
  readonly code: string;
  readonly retryable: boolean;
  readonly requestId: string | null;
  readonly message: string;
}

/** Classifies an SDK (or network) error without trusting its shape. */
export function describeSdkError(err: unknown): SdkErrorInfo {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorLike;
  const code = typeof e.name === 'string' && e.name !== '' ? e.name : 'UnknownError';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : 0;
  const requestId = typeof e.$metadata?.requestId === 'string' ? e.$metadata.requestId : null;
  const retryable =
    e.$retryable !== undefined && e.$retryable !== null
      ? true
      : e.$fault === 'server' || status >= 500 || status === 429 || RETRYABLE_NAMES.has(code);
  const message =
    typeof e.message === 'string' ? e.message.slice(0, 300) : String(err).slice(0, 300);
  return { code, retryable, requestId, message };
}

export function isAbortError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    ((err as { name?: unknown }).name === 'AbortError' ||
      (err as { code?: unknown }).code === 'ABORT_ERR')
  );
}
