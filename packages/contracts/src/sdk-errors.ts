// One classifier for AWS SDK v3 (and network) errors, used at every adapter boundary (SQS,
// EventBridge, DynamoDB, KMS): the SDK's error name as the code, whether trying again may work,
// the request id. Structural only: nothing here imports the SDK or trusts the error's shape.

/** What the adapters need to know about an AWS SDK v3 error; everything optional. */
interface SdkErrorLike {
  name?: unknown;
  message?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown; requestId?: unknown };
}

const RETRYABLE_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'TransactionInProgressException',
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
  /** The SDK's error name (e.g. ThrottlingException), or UnknownError. */
  readonly code: string;
  /** Throttling, a server fault, a timeout or a dropped connection: trying again may work. */
  readonly retryable: boolean;
  readonly requestId: string | null;
  /** The error's message, at most 300 characters. */
  readonly message: string;
}

/** Classifies an SDK (or network) error without trusting its shape. */
export function describeSdkError(err: unknown): SdkErrorInfo {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorLike;
  const code = typeof e.name === 'string' && e.name !== '' ? e.name : 'UnknownError';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : 0;
  const requestId = typeof e.$metadata?.requestId === 'string' ? e.$metadata.requestId : null;
  const retryable =
    (e.$retryable !== undefined && e.$retryable !== null) ||
    e.$fault === 'server' ||
    status >= 500 ||
    status === 429 ||
    RETRYABLE_NAMES.has(code);
  const message =
    typeof e.message === 'string' ? e.message.slice(0, 300) : String(err).slice(0, 300);
  return { code, retryable, requestId, message };
}
