// Property: for any clock, lease, receive count and wait limits, and any sequence of answers
// from the world, every decision keeps the safety rules, the waits and visibilities stay within
// their bounds, and every walk ends. (decide.test.ts walks every discrete path at fixed numbers;
// this one varies the numbers.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NonceRecord } from '@countersign/replay-guard';
import { decide, LEASE_WAIT_MARGIN_MS, type DeliveryFacts, type Step } from './decide.ts';
import { answers, checkStep, claims, inProgress, MSG, TERMINAL } from './testing/decision-world.ts';

const context = fc.record({
  now: fc.integer({ min: 0, max: 4_000_000_000_000 }),
  leaseLeftMs: fc.integer({ min: -120_000, max: 120_000 }),
  leaseMs: fc.integer({ min: 1000, max: 90_000 }),
  placeMarginMs: fc.integer({ min: 0, max: 10_000 }),
  lastReceiveWaitMs: fc.integer({ min: 0, max: 20_000 }),
  receiveCount: fc.integer({ min: 1, max: 6 }),
  maxReceives: fc.integer({ min: 1, max: 6 }),
  reconcileDelaySec: fc.integer({ min: 1, max: 60 }),
  tooLarge: fc.boolean(),
  poison: fc.option(
    fc.record({ detail: fc.constantFrom('failed with BOOM', 'processing failed') }),
    { nil: undefined },
  ),
});

type Context = typeof context extends fc.Arbitrary<infer C> ? C : never;

/** The facts a delivery starts with in context `c`. */
const start = (c: Context): DeliveryFacts => ({
  messageId: MSG,
  receiveCount: c.receiveCount,
  maxReceives: c.maxReceives,
  now: c.now,
  leaseMs: c.leaseMs,
  placeMarginMs: c.placeMarginMs,
  lastReceiveWaitMs: c.lastReceiveWaitMs,
  reconcileDelaySec: c.reconcileDelaySec,
  tooLarge: c.tooLarge,
  ...(c.poison ? { poison: c.poison } : {}),
});

describe('decide (property)', () => {
  it('keeps the safety rules and ends, whatever the numbers and the answers', () => {
    fc.assert(
      fc.property(context, fc.array(fc.nat(), { minLength: 12, maxLength: 12 }), (c, picks) => {
        const lease = inProgress(c.now + c.leaseLeftMs);
        let f = start(c);
        const path: Step['kind'][] = [];
        for (const pick of picks) {
          const step = decide(f);
          checkStep(f, step, path);
          if (TERMINAL.has(step.kind)) return;
          path.push(step.kind);
          const next = answers(step, lease);
          f = { ...f, ...next[pick % next.length]! };
        }
        throw new Error(`no terminal step after ${path.join(' → ')}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('waits at most min(lease left, leaseMs, lastReceiveWaitMs) once, and leaves for the lease left', () => {
    fc.assert(
      fc.property(context, fc.boolean(), (c, waited) => {
        const lease = inProgress(c.now + c.leaseLeftMs) as NonceRecord & { state: 'IN_PROGRESS' };
        const f: DeliveryFacts = {
          ...start(c),
          poison: undefined,
          tooLarge: false,
          verification: { ok: true, claims },
          claim: { claimed: false, existing: lease },
          waited,
        };
        const step = decide(f);
        const left = Math.max(0, lease.leaseUntil - c.now);
        if (c.receiveCount >= c.maxReceives && !waited) {
          expect(step).toEqual({
            kind: 'Wait',
            ms: Math.min(left, c.leaseMs, c.lastReceiveWaitMs) + LEASE_WAIT_MARGIN_MS,
          });
        } else {
          expect(step).toEqual({
            kind: 'Leave',
            why: 'IN_PROGRESS',
            visibilitySec: Math.max(1, Math.ceil(left / 1000)),
          });
        }
      }),
      { numRuns: 2000 },
    );
  });
});
