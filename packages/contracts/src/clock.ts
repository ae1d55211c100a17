/** The Clock port: epoch milliseconds. Injected everywhere below the composition roots. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
