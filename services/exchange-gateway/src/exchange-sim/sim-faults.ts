// Failures on demand, for the simulator. Two sources, checked in this order:
//  1. rules keyed by operation and client order id (tests): deterministic, consumed in order;
//  2. rates (error, reset, timeout) drawn from a seeded generator (the CLI's chaos knobs), so a
//     run with the same seed and the same request order fails the same way.
//
// Where a fault strikes matters for exactly-once: `before` = the request is dropped unprocessed;
// `after` = the order is stored (or read) and then the answer is lost, which is the case that
// forces the client to reconcile by client order id.
import { randomBytes } from 'node:crypto';

export const SimOps = ['place', 'get', 'cancel', 'list'] as const;
export type SimOp = (typeof SimOps)[number];

export type SimFault =
  /** Answers a 5xx (default 503). */
  | { readonly kind: 'error'; readonly when: 'before' | 'after'; readonly status?: number }
  /** Drops the connection (TCP reset) instead of answering. */
  | { readonly kind: 'reset'; readonly when: 'before' | 'after' }
  /** Never answers; the request ends when the client gives up. */
  | { readonly kind: 'timeout'; readonly when: 'before' | 'after' }
  /** 429 with Retry-After, nothing processed. */
  | { readonly kind: 'rate-limit'; readonly retryAfterSec: number }
  /** In-process only: waits for `until`, then is processed as usual (a late request). */
  | { readonly kind: 'hold'; readonly until: Promise<void> };

export interface SimFaultRule {
  /** Which operation; all of them when absent. */
  readonly op?: SimOp;
  /** Which order; any when absent. */
  readonly clientOrderId?: string;
  readonly fault: SimFault;
  /** How many matching requests it hits (default 1). */
  readonly times?: number;
}

export interface FaultRates {
  /** Share of requests answered with a 5xx (half before, half after processing). */
  readonly errorRate: number;
  /** Share of requests whose connection is reset (half before, half after). */
  readonly resetRate: number;
  /** Share of requests never answered (half before, half after). */
  readonly timeoutRate: number;
}

export interface FaultPlan {
  add(rule: SimFaultRule): void;
  clear(): void;
  setRates(rates: Partial<FaultRates>): void;
  rates(): FaultRates;
  /** The fault for this request, if any (consumes one use of a keyed rule). */
  next(op: SimOp, clientOrderId: string | undefined): SimFault | undefined;
  /** Rules not used up yet. */
  pending(): number;
}

/** mulberry32: small, seeded, good enough to pick faults. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function createFaultPlan(
  options: { seed?: number; rates?: Partial<FaultRates> } = {},
): FaultPlan {
  const rules: { rule: SimFaultRule; left: number }[] = [];
  const random = seeded(options.seed ?? randomBytes(4).readUInt32BE(0));
  let rates: FaultRates = { errorRate: 0, resetRate: 0, timeoutRate: 0, ...options.rates };
  return {
    add(rule) {
      rules.push({ rule, left: Math.max(1, Math.floor(rule.times ?? 1)) });
    },
    clear() {
      rules.length = 0;
    },
    setRates(next) {
      rates = { ...rates, ...next };
    },
    rates: () => rates,
    next(op, clientOrderId) {
      const at = rules.findIndex(
        ({ rule }) =>
          (rule.op === undefined || rule.op === op) &&
          (rule.clientOrderId === undefined || rule.clientOrderId === clientOrderId),
      );
      const hit = rules[at];
      if (hit) {
        hit.left -= 1;
        if (hit.left === 0) rules.splice(at, 1);
        return hit.rule.fault;
      }
      const total = rates.errorRate + rates.resetRate + rates.timeoutRate;
      if (total <= 0) return undefined;
      const r = random();
      if (r >= total) return undefined;
      const when = random() < 0.5 ? 'before' : 'after';
      if (r < rates.errorRate) return { kind: 'error', when };
      if (r < rates.errorRate + rates.resetRate) return { kind: 'reset', when };
      return { kind: 'timeout', when };
    },
    pending: () => rules.length,
  };
}
