import { describe, expect, it } from 'vitest';
import { sleep, sleepUnlessAborted } from './retry.ts';

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
