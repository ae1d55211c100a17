import { describe, expect, it } from 'vitest';
import { sleepOn } from '@countersign/contracts';
import { retrying } from './retry.ts';
import { fakeClock } from './testing/fakes.ts';

describe('retrying', () => {
  it('backs off on the injected clock, not on real timers', async () => {
    const base = fakeClock();
    const slept: number[] = [];
    const clock = { ...base, sleep: (ms: number) => (slept.push(ms), sleepOn(base, ms)) };
    let calls = 0;
    const fn = () => (++calls < 4 ? Promise.reject(new Error('throttled')) : Promise.resolve('ok'));
    // A 60 s cap: on real timers this would outlive the test's timeout.
    const out = await retrying(fn, clock, { baseDelayMs: 60_000, maxDelayMs: 60_000 });
    expect(out).toBe('ok');
    expect(calls).toBe(4);
    // Three backoffs, each within the cap (full jitter), all slept on the clock's time line.
    expect(slept).toHaveLength(3);
    for (const ms of slept) expect(ms).toBeLessThanOrEqual(60_000);
  }, 2000);

  it('gives up after its attempts and on an error it must not retry', async () => {
    const clock = fakeClock();
    let calls = 0;
    const failing = () => (calls++, Promise.reject(new Error('down')));
    await expect(retrying(failing, clock, { attempts: 3 })).rejects.toThrow('down');
    expect(calls).toBe(3);
    calls = 0;
    await expect(retrying(failing, clock, { retryable: () => false })).rejects.toThrow('down');
    expect(calls).toBe(1);
  });
});
