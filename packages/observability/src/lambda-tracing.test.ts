import { describe, expect, it } from 'vitest';
import {
  flushLambdaSpans,
  flushWithin,
  LAMBDA_FLUSH_TIMEOUT_MS,
  type RunningTracing,
} from './lambda-tracing.ts';

function fake(forceFlush: () => Promise<void>): RunningTracing & { calls: number } {
  const t = {
    calls: 0,
    forceFlush: () => {
      t.calls += 1;
      return forceFlush();
    },
    shutdown: () => Promise.resolve(),
  };
  return t;
}

describe('bounded flush', () => {
  it('resolves true when the spans left, false on a failed export, never rejects', async () => {
    expect(
      await flushWithin(
        fake(() => Promise.resolve()),
        1000,
      ),
    ).toBe(true);
    expect(
      await flushWithin(
        fake(() => Promise.reject(new Error('ECONNREFUSED'))),
        1000,
      ),
    ).toBe(false);
  });

  it('gives up at the bound on a collector that never answers', async () => {
    const started = performance.now();
    expect(
      await flushWithin(
        fake(() => new Promise<void>(() => {})),
        100,
      ),
    ).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('on Lambda: nothing to do when off, and never past the invocation deadline', async () => {
    expect(await flushLambdaSpans(undefined)).toBe(true);
    const hung = fake(() => new Promise<void>(() => {}));
    // 400 ms left is inside the deadline margin: no flush at all.
    expect(await flushLambdaSpans(hung, { getRemainingTimeInMillis: () => 400 })).toBe(false);
    expect(hung.calls).toBe(0);
    const started = performance.now();
    expect(await flushLambdaSpans(hung, { getRemainingTimeInMillis: () => 700 })).toBe(false);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(LAMBDA_FLUSH_TIMEOUT_MS);
  });
});
