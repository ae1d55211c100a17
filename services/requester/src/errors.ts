// Errors of the requester. Callers switch on `code`; messages never hold a key, a token or a secret.
import {
  CountersignError,
  isCountersignError,
  type FieldIssue,
  type SafeDetails,
} from '@countersign/contracts';
import { describeSdkError } from '@countersign/transport';

export type RequesterErrorCode =
  | 'REQUEST_INVALID'
  | 'CONFIG_INVALID'
  | 'SIGNING_FAILED'
  | 'QUEUE_FAILED'
  | 'AUTH_REQUIRED'
  | 'FORBIDDEN'
  | 'IDEMPOTENCY_CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'STORE_FAILED';

export class RequesterError<
  C extends RequesterErrorCode = RequesterErrorCode,
> extends CountersignError<C> {
  /** Field paths of a REQUEST_INVALID, e.g. `txn.quantity`. */
  readonly issues: readonly FieldIssue[];

  constructor(
    code: C,
    message: string,
    options: { cause?: unknown; issues?: readonly FieldIssue[]; details?: SafeDetails } = {},
  ) {
    super(code, message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      ...(options.details === undefined ? {} : { details: options.details }),
    });
    this.name = 'RequesterError';
    this.issues = options.issues ?? [];
  }
}

/** The request failed validation: nothing was signed. */
export function requestInvalid(issues: readonly FieldIssue[]): RequesterError<'REQUEST_INVALID'> {
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new RequesterError('REQUEST_INVALID', `invalid request: ${summary}`, { issues });
}

/** A DynamoDB call of a store failed: STORE_FAILED naming `where`, with the SDK's code. */
export function dynamoStoreFailure(where: string, operation: string, err: unknown): Error {
  if (isCountersignError(err)) return err;
  const sdk = describeSdkError(err);
  return new RequesterError('STORE_FAILED', `${where}: ${operation} failed (${sdk.code})`, {
    cause: err,
    details: { code: sdk.code, retryable: sdk.retryable, requestId: sdk.requestId },
  });
}
