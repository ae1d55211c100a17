import { describe, expect, it } from 'vitest';
import { describeSdkError } from './sdk-errors.ts';

describe('describeSdkError', () => {
  const sdk = (name: string, meta: Record<string, unknown> = {}, extra = {}) =>
    Object.assign(new Error(`${name} happened`), { name, $metadata: meta, ...extra });

  it('retries throttling, server faults, 5xx, 429, timeouts and dropped connections', () => {
    for (const err of [
      sdk('ThrottlingException'),
      sdk('ProvisionedThroughputExceededException'),
      sdk('KMSInternalException'),
      sdk('Whatever', { httpStatusCode: 503 }),
      sdk('Whatever', { httpStatusCode: 429 }),
      sdk('Whatever', {}, { $fault: 'server' }),
      sdk('Whatever', {}, { $retryable: {} }),
      sdk('ECONNRESET'),
    ]) {
      expect(describeSdkError(err).retryable).toBe(true);
    }
  });

  it('does not retry client errors, and survives anything thrown', () => {
    expect(
      describeSdkError(sdk('AccessDeniedException', { httpStatusCode: 400, requestId: 'r-1' })),
    ).toEqual({
      code: 'AccessDeniedException',
      retryable: false,
      requestId: 'r-1',
      message: 'AccessDeniedException happened',
    });
    expect(describeSdkError('boom')).toEqual({
      code: 'UnknownError',
      retryable: false,
      requestId: null,
      message: 'boom',
    });
    expect(describeSdkError(null).code).toBe('UnknownError');
    expect(describeSdkError(sdk('X', {}, { message: 'm'.repeat(1000) })).message).toHaveLength(300);
  });
});
