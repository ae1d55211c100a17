// The decision tables, exhaustively: every reachable state × every answer the world can give to
// each step (verification, nonce store, exchange, policy), walked depth-first in memory. Every
// path must end in a terminal step, never break a safety rule, and every row must be reachable.
// The README's tables must be the ones rendered from the rules.
import { readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NonceRecord } from '@countersign/replay-guard';
import {
  decide,
  decideOnFailure,
  decideResolution,
  DELIVERY_RULES,
  FAILURE_RULES,
  firstRule,
  MAX_HANDLE_ATTEMPTS,
  renderDecisionTables,
  RESOLUTION_RULES,
  type DeliveryFacts,
  type ResolutionFacts,
  type ResolutionStep,
  type Rule,
  type Step,
} from './decide.ts';
import {
  answers,
  checkResolutionStep,
  checkStep,
  claims,
  completed,
  FILLED,
  inProgress,
  LEASE_MS,
  live,
  MSG,
  NOW,
  PLACE_MARGIN_MS,
  resolutionAnswers,
  stored,
  TERMINAL,
} from './testing/decision-world.ts';

interface Walk {
  paths: number;
  rows: Set<number>;
  terminals: Map<string, number>;
  longest: number;
}

function walk(f: DeliveryFacts, path: Step['kind'][], w: Walk): void {
  expect(path.length, path.join(' → ')).toBeLessThan(12);
  const { row, step } = firstRule(DELIVERY_RULES, f, 'delivery');
  expect(decide(f)).toEqual(step);
  w.rows.add(row);
  checkStep(f, step, path);
  if (TERMINAL.has(step.kind)) {
    w.paths += 1;
    w.longest = Math.max(w.longest, path.length + 1);
    const key = `${step.kind}${step.kind === 'Reject' ? `@${step.key}:${step.reason}` : ''}`;
    w.terminals.set(key, (w.terminals.get(key) ?? 0) + 1);
    return;
  }
  const next = answers(step);
  expect(next.length, `no answer for ${step.kind}`).toBeGreaterThan(0);
  for (const a of next) walk({ ...f, ...a }, [...path, step.kind], w);
}

function contexts(): DeliveryFacts[] {
  const out: DeliveryFacts[] = [];
  for (const tooLarge of [false, true])
    for (const receiveCount of [1, 3])
      for (const poison of [undefined, { detail: 'failed with NONCE_CONFLICT' }])
        out.push({
          messageId: MSG,
          receiveCount,
          maxReceives: 3,
          now: NOW,
          leaseMs: LEASE_MS,
          placeMarginMs: PLACE_MARGIN_MS,
          lastReceiveWaitMs: 10_000,
          reconcileDelaySec: 5,
          tooLarge,
          ...(poison ? { poison } : {}),
        });
  return out;
}

describe('decide: every reachable state × every answer', () => {
  const w: Walk = { paths: 0, rows: new Set(), terminals: new Map(), longest: 0 };
  beforeAll(() => {
    for (const c of contexts()) walk(c, [], w);
  });

  it('every path ends in a terminal step, keeping the safety rules on the way', () => {
    expect(w.paths).toBeGreaterThan(500); // 629 when written
    expect(w.longest).toBeLessThanOrEqual(9);
  });

  it('every row of the table is reachable (no dead rule)', () => {
    const dead = DELIVERY_RULES.flatMap((r, i) => (w.rows.has(i) ? [] : [`${i + 1}: ${r.when}`]));
    expect(dead).toEqual([]);
  });

  it('answers EXPIRED under the message key, and REJECTED EXPIRED under the request key when a claimed order was never placed', () => {
    expect(w.terminals.get('Reject@message:EXPIRED')).toBeGreaterThan(0);
    expect(w.terminals.get('Reject@request:EXPIRED')).toBeGreaterThan(0);
  });
});

describe('decide: the F1 redelivery, row by row', () => {
  const base: DeliveryFacts = contexts()[0]!;
  const expired: DeliveryFacts = { ...base, verification: { ok: false, code: 'EXPIRED' } };
  const matched = (record: NonceRecord): DeliveryFacts => ({
    ...expired,
    lookup: { named: true, claims, record, sameToken: true },
  });

  it('a token that fails verification is looked up, not refused at once', () => {
    expect(decide(expired)).toEqual({ kind: 'Lookup', key: 'request' });
  });

  it('bytes that were never claimed: REJECTED with the verification code under msg#', () => {
    expect(
      decide({ ...expired, lookup: { named: true, claims, record: live, sameToken: false } }),
    ).toEqual({
      kind: 'ClaimMessageKey',
      refusal: { reason: 'EXPIRED', attributed: false, keepRequest: true },
    });
  });

  it('claimed bytes, IN_PROGRESS: claim (the store decides live lease or takeover), then reconcile', () => {
    expect(decide(matched(inProgress(NOW - 1)))).toEqual({ kind: 'Claim' });
    const taken: DeliveryFacts = {
      ...matched(inProgress(NOW - 1)),
      claim: {
        claimed: true,
        takeover: true,
        previous: inProgress(NOW - 1) as NonceRecord & { state: 'IN_PROGRESS' },
      },
    };
    expect(decide(taken)).toEqual({ kind: 'Reconcile' });
    expect(decide({ ...taken, order: { kind: 'found', result: FILLED } })).toEqual({
      kind: 'EmitExecution',
      result: FILLED,
      policy: 'current',
    });
    expect(decide({ ...taken, order: { kind: 'absent' } })).toEqual({
      kind: 'Reject',
      key: 'request',
      reason: 'EXPIRED',
    });
    expect(decide({ ...taken, order: { kind: 'timeout' } })).toEqual({
      kind: 'EmitUnknown',
      policy: undefined,
      visibilitySec: 5,
    });
  });

  it('claimed bytes, COMPLETED: this message re-publishes, another one is REPLAYED', () => {
    expect(decide(matched(completed(MSG)))).toEqual({
      kind: 'Republish',
      stored: stored(MSG),
      followUp: true,
    });
    expect(decide(matched(completed('m-other')))).toMatchObject({
      kind: 'ClaimMessageKey',
      refusal: { reason: 'REPLAYED', attributed: true },
    });
  });

  it('on the last receive, a live lease is waited for once (on the lease, capped)', () => {
    const last: DeliveryFacts = {
      ...base,
      receiveCount: 3,
      verification: { ok: true, claims },
      claim: { claimed: false, existing: inProgress(NOW + 2500) },
    };
    expect(decide(last)).toEqual({ kind: 'Wait', ms: 2510 });
    expect(decide({ ...last, waited: true })).toEqual({
      kind: 'Leave',
      why: 'IN_PROGRESS',
      visibilitySec: 3,
    });
    expect(
      decide({ ...last, claim: { claimed: false, existing: inProgress(NOW + 60_000) } }),
    ).toEqual({ kind: 'Wait', ms: 5010 });
  });
});

describe('decideResolution: every state × every answer', () => {
  it('ends every path; places only after the order is absent and the token verifies again, while our lease outlasts the call', () => {
    const reached = new Set<number>();
    const ends = new Map<string, number>();
    const go = (r: ResolutionFacts, path: ResolutionStep['kind'][]): void => {
      expect(path.length).toBeLessThan(8);
      const { row, step } = firstRule(RESOLUTION_RULES, r, 'resolution');
      expect(decideResolution(r)).toEqual(step);
      reached.add(row);
      checkResolutionStep(r, step, [...path, step.kind].join(' → '));
      const next = resolutionAnswers(step);
      if (next.length === 0) {
        const key = `${step.kind}${step.kind === 'Pending' && step.why ? `:${step.why}` : ''}`;
        ends.set(key, (ends.get(key) ?? 0) + 1);
      }
      for (const a of next) go({ ...r, ...a }, [...path, step.kind]);
    };
    const start = { now: NOW, placeMarginMs: PLACE_MARGIN_MS };
    go(start, []);
    // A delivery that already knows its verification starts there.
    go({ ...start, verification: { ok: false, code: 'UNKNOWN_KID' } }, []);
    go({ ...start, verification: { ok: true } }, []);
    expect([...ends.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(8);
    expect(ends.get('Pending:LEASE_ENDING')).toBeGreaterThan(0);
    expect([...reached].sort((a, b) => a - b)).toEqual(RESOLUTION_RULES.map((_, i) => i));
  });

  it('places with one millisecond more than the margin left, not with exactly the margin', () => {
    const ready: ResolutionFacts = {
      now: NOW,
      placeMarginMs: PLACE_MARGIN_MS,
      claim: { claimed: true, takeover: false },
      order: { kind: 'absent' },
      verification: { ok: true },
    };
    expect(decideResolution({ ...ready, leaseUntil: NOW + PLACE_MARGIN_MS + 1 })).toEqual({
      kind: 'Place',
    });
    expect(decideResolution({ ...ready, leaseUntil: NOW + PLACE_MARGIN_MS })).toEqual({
      kind: 'Pending',
      why: 'LEASE_ENDING',
    });
    expect(decideResolution(ready)).toEqual({ kind: 'Pending', why: 'LEASE_ENDING' });
  });
});

describe('decideOnFailure', () => {
  it('retries a NONCE_CONFLICT a bounded number of times, then gives back or poisons', () => {
    const f = { code: 'NONCE_CONFLICT', attempt: 1, receiveCount: 1, maxReceives: 3 };
    expect(decideOnFailure(f)).toEqual({ kind: 'Retry' });
    expect(decideOnFailure({ ...f, attempt: MAX_HANDLE_ATTEMPTS })).toEqual({ kind: 'GiveBack' });
    expect(decideOnFailure({ ...f, code: 'STORE_FAILED' })).toEqual({ kind: 'GiveBack' });
    expect(decideOnFailure({ ...f, code: undefined, receiveCount: 3 })).toEqual({
      kind: 'Poison',
    });
    expect(FAILURE_RULES).toHaveLength(3);
  });
});

describe('firstRule', () => {
  it('no row applying is a bug, thrown as INTERNAL naming the table', () => {
    const none: Rule<object, Step>[] = [
      { stage: 'test', when: 'never', step: 'Reject', apply: () => undefined },
    ];
    expect(() => firstRule(none, {}, 'test')).toThrow(
      expect.objectContaining({ code: 'INTERNAL', details: { table: 'test' } }),
    );
  });
});

describe('the README decision tables', () => {
  it('are the ones rendered from the rules (UPDATE_DECISION_TABLES=1 rewrites them)', () => {
    const path = new URL('../README.md', import.meta.url);
    const readme = readFileSync(path, 'utf8');
    const start = '<!-- decision-tables:start (generated from src/decide.ts) -->\n';
    const end = '<!-- decision-tables:end -->';
    const from = readme.indexOf(start);
    const to = readme.indexOf(end);
    expect(from, 'README markers').toBeGreaterThan(0);
    const current = readme.slice(from + start.length, to);
    const rendered = `\n${renderDecisionTables()}\n`;
    if (process.env.UPDATE_DECISION_TABLES === '1' && current !== rendered) {
      writeFileSync(path, readme.slice(0, from + start.length) + rendered + readme.slice(to));
      return;
    }
    expect(current).toBe(rendered);
  });
});
