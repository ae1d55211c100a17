/**
 * The Clock port: epoch milliseconds, and (optionally) sleeping on that same time line.
 * Injected everywhere below the composition roots. A test clock implements `sleep` by moving
 * its own time, so code that waits (a lease, a backoff) stays consistent with what it reads.
 */
export interface Clock {
  now(): number;
  /** Resolves after `ms` of this clock's time. Absent: real time (see `sleepOn`). */
  sleep?(ms: number): Promise<void>;
}

const realSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export const systemClock: Clock = { now: () => Date.now(), sleep: realSleep };

/** Sleeps `ms` on `clock`'s time line (real time for a clock without `sleep`). */
export function sleepOn(clock: Clock, ms: number): Promise<void> {
  return clock.sleep ? clock.sleep(ms) : realSleep(ms);
}
