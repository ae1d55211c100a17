import { describe, expect, it } from 'vitest';
import { createFaultPlan } from './sim-faults.ts';

describe('fault plan', () => {
  it('applies keyed rules in order, each as many times as asked, then nothing', () => {
    const plan = createFaultPlan({ seed: 1 });
    plan.add({
      op: 'place',
      clientOrderId: 'a',
      fault: { kind: 'error', when: 'after' },
      times: 2,
    });
    plan.add({ op: 'get', fault: { kind: 'reset', when: 'before' } });
    expect(plan.next('place', 'b')).toBeUndefined();
    expect(plan.next('get', 'a')).toEqual({ kind: 'reset', when: 'before' });
    expect(plan.next('place', 'a')).toEqual({ kind: 'error', when: 'after' });
    expect(plan.next('place', 'a')).toEqual({ kind: 'error', when: 'after' });
    expect(plan.next('place', 'a')).toBeUndefined();
    expect(plan.pending()).toBe(0);
  });

  it('draws rate faults from the seed: the same seed fails the same requests', () => {
    const run = (seed: number) => {
      const plan = createFaultPlan({
        seed,
        rates: { errorRate: 0.1, resetRate: 0.1, timeoutRate: 0.1 },
      });
      return Array.from({ length: 200 }, () =>
        JSON.stringify(plan.next('place', undefined) ?? null),
      );
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    const hits = run(7).filter((f) => f !== 'null').length;
    expect(hits).toBeGreaterThan(30);
    expect(hits).toBeLessThan(90);
  });
});
