// Property: however attempts under one key interleave, stall past their lease, fail or die at
// any step, at most one jti is ever sent for the key (within its 24 h), and every answer names it.
// Attempts follow the protocol of idempotent-submit.ts step by step against a store.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newJti } from '@countersign/contracts';
import {
  IDEMPOTENCY_LEASE_MS,
  createMemoryIdempotencyStore,
  type FixedRequest,
} from './idempotency-store.ts';

type Attempt =
  | { stage: 'idle' }
  | { stage: 'begun'; owner: string; fixed: readonly FixedRequest[] | null }
  | { stage: 'fixed'; owner: string; jti: string }
  | { stage: 'sent'; owner: string; jti: string };

// Two attempts are enough to interleave; lease-sized clock jumps make takeovers common.
const Step = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('step' as const),
      attempt: fc.integer({ min: 0, max: 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom('die' as const, 'send-fails' as const),
      attempt: fc.integer({ min: 0, max: 1 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.constantFrom(1, IDEMPOTENCY_LEASE_MS - 1, IDEMPOTENCY_LEASE_MS, 5 * 60_000),
    }),
  },
);

function token(jti: string) {
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'ES256' })}.${part({ jti, sub: 'acct-1' })}.c2ln`;
}

describe('idempotency transitions (property)', () => {
  it('never more than one jti sent per key, and every answer names it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(Step, { maxLength: 40 }), async (steps) => {
        let now = 0;
        const store = createMemoryIdempotencyStore({ clock: { now: () => now } });
        const attempts: Attempt[] = [{ stage: 'idle' }, { stage: 'idle' }];
        const sent = new Set<string>();
        const answered = new Set<string>();
        for (const s of steps) {
          if (s.kind === 'advance') {
            now += s.ms;
            continue;
          }
          const a = attempts[s.attempt]!;
          if (s.kind === 'die') {
            attempts[s.attempt] = { stage: 'idle' };
            continue;
          }
          if (s.kind === 'send-fails') {
            // An error from the queue may come after the message was stored: count it as sent.
            if (a.stage === 'fixed') {
              sent.add(a.jti);
              await store.release('s', 'k', a.owner);
            } else if (a.stage === 'begun') await store.release('s', 'k', a.owner);
            attempts[s.attempt] = { stage: 'idle' };
            continue;
          }
          switch (a.stage) {
            case 'idle': {
              const b = await store.begin('s', 'k', 'h');
              if (b.state === 'replay') answered.add((b.response.body as { jti: string }).jti);
              if (b.state === 'new') attempts[s.attempt] = { ...b, stage: 'begun', fixed: null };
              if (b.state === 'resume') attempts[s.attempt] = { ...b, stage: 'begun' };
              break;
            }
            case 'begun': {
              const first = a.fixed?.[0];
              if (first?.ok) {
                attempts[s.attempt] = { stage: 'fixed', owner: a.owner, jti: first.jti };
                break;
              }
              const jti = newJti(now); // signing: a new identity, only ever sent once fixed
              const kept = await store.fix('s', 'k', a.owner, [
                { ok: true, jti, account: 'acct-1', token: token(jti) },
              ]);
              attempts[s.attempt] = kept
                ? { stage: 'fixed', owner: a.owner, jti }
                : { stage: 'idle' };
              break;
            }
            case 'fixed':
              sent.add(a.jti);
              attempts[s.attempt] = { ...a, stage: 'sent' };
              break;
            case 'sent':
              await store.complete('s', 'k', a.owner, { status: 202, body: { jti: a.jti } });
              answered.add(a.jti);
              attempts[s.attempt] = { stage: 'idle' };
              break;
          }
        }
        expect(sent.size).toBeLessThanOrEqual(1);
        for (const jti of answered) expect(sent.has(jti)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
