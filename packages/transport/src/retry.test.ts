import { describe, expect, it } from 'vitest';
import { backoffDelayMs, sleep, sleepUnlessAborted } from './retry.ts';

describe('backoffDelayMs', () => {
  it('is full jitter below base * 2^attempt, capped', () => {
    expect(backoffDelayMs(0, 100, 5000, () => 0.999)).toBe(99);
    expect(backoffDelayMs(3, 100, 5000, () => 0.5)).toBe(400);
    expect(backoffDelayMs(10, 100, 5000, () => 0.999)).toBe(4995);
    expect(backoffDelayMs(4, 100, 5000, () => 0)).toBe(0);
  });
});

describe('sleep', () => {
  it('rejects at once when the signal aborts, and sleepUnlessAborted answers false', async () => {
    const ctl = new AbortController();
    const pending = sleep(60_000, ctl.signal);
    ctl.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(await sleepUnlessAborted(60_000, ctl.signal)).toBe(false);
    expect(await sleepUnlessAborted(1)).toBe(true);
  });
});
