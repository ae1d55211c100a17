// Errors of the nonce stores. Callers switch on `code`:
//  NONCE_CONFLICT  complete() by someone who does not hold the claim (or the key is COMPLETED)
//  CHAIN_CONFLICT  complete() whose stream head is not (seq - 1, prev) (nothing was written)
//  STORE_FAILED    the database failed; details { code, retryable, requestId } for DynamoDB
import { CountersignError, describeSdkError } from '@countersign/contracts';
import type { SafeDetails } from '@countersign/contracts';

export type NonceConflictError = CountersignError<'NONCE_CONFLICT'>;
export type ChainConflictError = CountersignError<'CHAIN_CONFLICT'>;
export type StoreError = CountersignError<'STORE_FAILED'>;

export function nonceConflict(
  key: string,
  state: string,
  details: SafeDetails = {},
): NonceConflictError {
  return new CountersignError(
    'NONCE_CONFLICT',
    `the nonce is ${state}, not IN_PROGRESS for this owner`,
    { details: { key, state, ...details } },
  );
}

/** `otherHead`: the seq is right but it is another receipt than the one signed on. */
export function chainConflict(
  stream: string,
  expectedSeq: number,
  actualSeq: number | null,
  otherHead = false,
): ChainConflictError {
  let message = `stream ${stream} is at seq ${actualSeq}, expected ${expectedSeq}`;
  if (actualSeq === null) message = `stream ${stream} is not at seq ${expectedSeq}`;
  else if (otherHead) message = `stream ${stream} is at seq ${actualSeq} on another receipt`;
  return new CountersignError('CHAIN_CONFLICT', message, {
    details: { stream, expectedSeq, actualSeq, otherHead },
  });
}

export function storeError(
  message: string,
  details: SafeDetails = {},
  cause?: unknown,
): StoreError {
  return new CountersignError('STORE_FAILED', message, { details, cause });
}

/** Converts an AWS SDK error at the adapter boundary into STORE_FAILED. */
export function fromSdkError(operation: string, err: unknown): StoreError {
  const { code, retryable, requestId } = describeSdkError(err);
  return storeError(`DynamoDB ${operation} failed: ${code}`, { code, retryable, requestId }, err);
}
