import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  retryStep,
  type AttemptEnd,
} from './exchange-retry.ts';

const ctx = (attempt: number, remainingMs = 5000) => ({
  attempt,
  remainingMs,
  policy: DEFAULT_RETRY_POLICY,
  random: () => 0.5,
});

describe('retryStep', () => {
  it('reads every 2xx and 4xx answer except 408 and 429', () => {
    for (const status of [200, 201, 400, 401, 403, 404, 409, 422]) {
      expect(retryStep({ kind: 'answer', status }, ctx(1))).toEqual({ next: 'done' });
    }
  });

  it('retries 5xx, 408 and resets with a growing backoff, then gives up as unknown', () => {
    const end: AttemptEnd = { kind: 'answer', status: 503 };
    const waits = [1, 2, 3, 4].map((n) => retryStep(end, ctx(n)));
    expect(waits.map((s) => (s.next === 'retry' ? s.waitMs : -1))).toEqual([38, 75, 150, 300]);
    expect(retryStep({ kind: 'answer', status: 408 }, ctx(1)).next).toBe('retry');
    expect(retryStep({ kind: 'reset', code: 'ECONNRESET' }, ctx(2)).next).toBe('retry');
    expect(retryStep(end, ctx(5))).toEqual({ next: 'unknown', why: 'HTTP 503 after 5 attempts' });
  });

  it('a timeout is unknown at once: the order may exist', () => {
    expect(retryStep({ kind: 'timeout' }, ctx(1))).toEqual({
      next: 'unknown',
      why: 'no answer in time',
    });
  });

  it('honours Retry-After on 429, unless it ends past the deadline', () => {
    expect(retryStep({ kind: 'answer', status: 429, retryAfterMs: 2000 }, ctx(1))).toEqual({
      next: 'retry',
      waitMs: 2000,
      rateLimited: true,
    });
    expect(retryStep({ kind: 'answer', status: 429 }, ctx(1))).toMatchObject({ waitMs: 1000 });
    expect(retryStep({ kind: 'answer', status: 429, retryAfterMs: 2000 }, ctx(1, 1999)).next).toBe(
      'unknown',
    );
  });

  it('never schedules a retry that ends after the deadline', () => {
    const ends = fc.oneof(
      fc.record({
        kind: fc.constant('answer' as const),
        status: fc.integer({ min: 100, max: 599 }),
      }),
      fc.record({
        kind: fc.constant('answer' as const),
        status: fc.constant(429),
        retryAfterMs: fc.integer({ min: 0, max: 60_000 }),
      }),
      fc.constant({ kind: 'reset' as const, code: 'ECONNRESET' }),
      fc.constant({ kind: 'timeout' as const }),
    );
    fc.assert(
      fc.property(
        ends,
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (end, attempt, remainingMs, r) => {
          const step = retryStep(end, { ...ctx(attempt, remainingMs), random: () => r });
          if (step.next === 'retry') expect(step.waitMs).toBeLessThan(remainingMs);
          if (end.kind === 'timeout') expect(step.next).toBe('unknown');
        },
      ),
    );
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  it('reads delta-seconds and HTTP dates, caps at 60 s, ignores garbage', () => {
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('3600', now)).toBe(60_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('-1', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('12345', now)).toBe(60_000);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
