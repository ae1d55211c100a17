// Property: whatever the interleaving of deliveries, duplicates, replays, crashes (before
// complete, before publish), exchange timeouts and restarts, once every message has been
// redelivered until deleted: each message has exactly one primary receipt, each token executed
// at most once, every UNKNOWN has exactly one follow-up, and each stream's seq is gap-free with
// an intact prev chain.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GENESIS_PREV } from '@countersign/contracts';
import type { ReceiptClaims } from '@countersign/contracts';
import type { NonceStore } from '@countersign/replay-guard';
import type { EventBus, ReceivedMessage } from '@countersign/transport';
import { createPaperExchange } from './paper-exchange.ts';
import { readOwnReceipt, sha256B64u } from './receipts.ts';
import { createHarness, fakeBus, fakeNonceStore } from './testing/index.ts';

type Op =
  | { kind: 'new'; account: number; bad: boolean; timeout: boolean }
  | { kind: 'replay'; of: number }
  | { kind: 'redeliver'; of: number }
  | { kind: 'crashComplete' }
  | { kind: 'crashPublish' }
  | { kind: 'restart' }
  | { kind: 'tick'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('new' as const),
      account: fc.nat(3),
      bad: fc.boolean(),
      timeout: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('replay' as const), of: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('redeliver' as const), of: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crashComplete' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crashPublish' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      ms: fc.integer({ min: 0, max: 15_000 }),
    }),
  },
);

describe('pipeline under arbitrary faults (property)', () => {
  it('nothing lost, nothing executed twice, chains intact', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const store = fakeNonceStore();
        const bus = fakeBus();
        let crashComplete = false;
        let crashPublish = false;
        const nonceStore: NonceStore = {
          ...store,
          complete: (k, o) => {
            if (crashComplete) {
              crashComplete = false;
              return Promise.reject(new Error('crash before complete'));
            }
            return store.complete(k, o);
          },
        };
        const flakyBus: EventBus = {
          publish: (e) => {
            if (crashPublish) {
              crashPublish = false;
              return Promise.reject(new Error('crash before publish'));
            }
            return bus.publish(e);
          },
        };
        const exchange = createPaperExchange();
        const h = await createHarness({
          nonceStore,
          bus: flakyBus,
          exchange,
          partitions: 2,
          leaseMs: 5000,
        });
        const messages: ReceivedMessage[] = [];
        const tokens: string[] = [];
        const deleted = new Set<string>();
        const deliver = async (m: ReceivedMessage) => {
          const count = m.receiveCount;
          try {
            const r = await h.processor.process(m);
            if (r.action === 'delete') deleted.add(m.messageId);
          } catch {
            // left for redelivery
          }
          const i = messages.findIndex((x) => x.messageId === m.messageId);
          messages[i] = { ...m, receiveCount: Math.min(count + 1, 4) }; // never the poison receive here
        };
        for (const o of ops) {
          if (o.kind === 'new') {
            let t = await h.token({ sub: `acct-${o.account + 1}` });
            if (o.bad) t = `${t.slice(0, -6)}AAAAAA`;
            else tokens.push(t);
            if (o.timeout && !o.bad) exchange.timeoutOnce(h.orderId(t));
            const m = h.message(t);
            messages.push(m);
            await deliver(m);
          } else if (o.kind === 'replay' && tokens.length > 0) {
            const m = h.message(tokens[o.of % tokens.length]!);
            messages.push(m);
            await deliver(m);
          } else if (o.kind === 'redeliver' && messages.length > 0) {
            await deliver(messages[o.of % messages.length]!);
          } else if (o.kind === 'crashComplete') crashComplete = true;
          else if (o.kind === 'crashPublish') crashPublish = true;
          else if (o.kind === 'restart') h.restart();
          else if (o.kind === 'tick') h.clock.advance(o.ms);
        }
        // Drain: redeliver every message until deleted (lease expiry between rounds).
        crashComplete = false;
        crashPublish = false;
        for (let round = 0; round < 6 && deleted.size < messages.length; round += 1) {
          h.clock.advance(6000);
          for (const m of [...messages]) if (!deleted.has(m.messageId)) await deliver(m);
        }
        expect(deleted.size).toBe(messages.length);

        const receipts = [...new Set(bus.events.map((e) => e.receipt))];
        const claims: ReceiptClaims[] = receipts.map((r) => readOwnReceipt(r));
        const primary = claims.filter((c) => c.resolves === undefined);
        const perMessage = new Map<string, number>();
        for (const c of primary)
          perMessage.set(c.messageId, (perMessage.get(c.messageId) ?? 0) + 1);
        expect(perMessage.size).toBe(messages.length);
        expect([...perMessage.values()].every((n) => n === 1)).toBe(true);
        const unknown = primary.filter((c) => c.outcome === 'UNKNOWN').map((c) => c.jti);
        const followUps = claims.filter((c) => c.resolves !== undefined).map((c) => c.resolves);
        expect(followUps.sort()).toEqual(unknown.sort());
        expect(exchange.executions()).toBe(new Set(tokens).size);
        const executedJtis = claims.filter((c) => c.outcome === 'EXECUTED').map((c) => c.req.jti);
        expect(new Set(executedJtis).size).toBe(executedJtis.length);

        const byStream = new Map<string, { token: string; c: ReceiptClaims }[]>();
        receipts.forEach((token, i) =>
          byStream.set(claims[i]!.stream, [
            ...(byStream.get(claims[i]!.stream) ?? []),
            { token, c: claims[i]! },
          ]),
        );
        for (const list of byStream.values()) {
          list.sort((a, b) => a.c.seq - b.c.seq);
          list.forEach((x, i) => {
            expect(x.c.seq).toBe(i + 1);
            expect(x.c.prev).toBe(i === 0 ? GENESIS_PREV : sha256B64u(list[i - 1]!.token));
          });
          expect((await store.head(list[0]!.c.stream)).seq).toBe(list.length);
        }
      }),
      { numRuns: 60 },
    );
  });
});
