import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.ts';

describe('backoffDelayMs', () => {
  it('is full jitter below base * 2^attempt, capped', () => {
    expect(backoffDelayMs(0, 100, 5000, () => 0.999)).toBe(99);
    expect(backoffDelayMs(3, 100, 5000, () => 0.5)).toBe(400);
    expect(backoffDelayMs(10, 100, 5000, () => 0.999)).toBe(4995);
    expect(backoffDelayMs(4, 100, 5000, () => 0)).toBe(0);
  });
});
