// Model check of the SQLite nonce store: random claims, completes (right and wrong owners,
// right and wrong seq, signed on the stored head or on another) and clock jumps over a few keys and one stream. Every answer must match
// a small reference model of the port's documented rules, and the store must match the model
// after every step.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GENESIS_PREV } from '@countersign/contracts';
import { createSqliteNonceStore } from './sqlite-nonce-store.ts';

const LEASE = 1000;
const STREAM = 'gw/0';

type Op =
  | { kind: 'claim'; key: number; owner: number }
  | { kind: 'complete'; key: number; owner: number; seqDelta: number; onHead: boolean }
  | { kind: 'advance'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('claim' as const), key: fc.nat(2), owner: fc.nat(2) }),
  fc.record({
    kind: fc.constant('complete' as const),
    key: fc.nat(3), // key 3 is never claimed: a direct complete
    owner: fc.nat(2),
    seqDelta: fc.constantFrom(1, 1, 1, 0, 2),
    // Signed on the stored head, or on a receipt of another writer at that seq.
    onHead: fc.constantFrom(true, true, true, false),
  }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 1500 }) }),
);

type ModelRecord =
  | { state: 'IN_PROGRESS'; owner: string; leaseUntil: number; attempts: number }
  | { state: 'COMPLETED'; receipt: string };

describe('createSqliteNonceStore (model check)', () => {
  it('answers every claim and complete as the documented rules say', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 50 }), async (ops) => {
        const dir = mkdtempSync(join(tmpdir(), 'cs-nonce-prop-'));
        const store = createSqliteNonceStore({ path: join(dir, 'n.db') });
        const model = new Map<string, ModelRecord>();
        let headSeq = 0;
        let headHash = GENESIS_PREV;
        let now = 1_000_000;
        try {
          for (const [step, o] of ops.entries()) {
            if (o.kind === 'advance') {
              now += o.ms;
              continue;
            }
            const key = `iss#k${o.key}`;
            const owner = `w${o.owner}`;
            const before = model.get(key);
            if (o.kind === 'claim') {
              const got = await store.claim(key, { expiresAt: 1e12, leaseMs: LEASE, owner, now });
              if (!before) {
                expect(got).toEqual({ claimed: true, takeover: false });
                model.set(key, {
                  state: 'IN_PROGRESS',
                  owner,
                  leaseUntil: now + LEASE,
                  attempts: 1,
                });
              } else if (before.state === 'IN_PROGRESS' && before.leaseUntil <= now) {
                expect(got).toMatchObject({
                  claimed: true,
                  takeover: true,
                  previous: { owner: before.owner, attempts: before.attempts },
                });
                model.set(key, {
                  state: 'IN_PROGRESS',
                  owner,
                  leaseUntil: now + LEASE,
                  attempts: before.attempts + 1,
                });
              } else {
                expect(got.claimed).toBe(false);
              }
            } else {
              const seq = headSeq + o.seqDelta;
              const receipt = `r.${step}.s`;
              const hash = String(step).padStart(43, 'h');
              const attempt = store.complete(key, {
                owner,
                stored: { receipt, request: null, messageId: `m${step}` },
                head: { stream: STREAM, seq, hash },
                prev: o.onHead ? headHash : 'o'.repeat(43),
                expiresAt: 1e12,
              });
              const nonceOk = !before || (before.state === 'IN_PROGRESS' && before.owner === owner);
              if (seq < 1) {
                // An invalid argument is refused before the store is looked at.
                await expect(attempt).rejects.toMatchObject({ code: 'STORE_FAILED' });
              } else if (!nonceOk) {
                await expect(attempt).rejects.toMatchObject({ code: 'NONCE_CONFLICT' });
              } else if (seq !== headSeq + 1 || !o.onHead) {
                await expect(attempt).rejects.toMatchObject({ code: 'CHAIN_CONFLICT' });
              } else {
                await attempt;
                headSeq = seq;
                headHash = hash;
                model.set(key, { state: 'COMPLETED', receipt });
              }
            }
            // The store agrees with the model after every step.
            expect(await store.head(STREAM)).toEqual({
              stream: STREAM,
              seq: headSeq,
              hash: headHash,
            });
            for (const [k, m] of model) {
              const rec = await store.get(k);
              if (m.state === 'COMPLETED') {
                expect(rec).toMatchObject({ state: 'COMPLETED', stored: { receipt: m.receipt } });
              } else {
                expect(rec).toMatchObject(m);
              }
            }
          }
        } finally {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 80 },
    );
  }, 60_000);
});
