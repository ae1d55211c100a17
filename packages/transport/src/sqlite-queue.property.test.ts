// Model check of the embedded queue: random sends (with duplicate dedup ids), receives, deletes
// (current and stale handles) and clock jumps; the queue must keep SQS FIFO promises at every
// step, and at the end every message is either deleted once or in the DLQ, never lost.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSqliteQueue, DEDUP_WINDOW_MS } from './sqlite-queue.ts';

const MAX_RECEIVES = 3;
const VISIBILITY_SEC = 30;

type Op =
  | { kind: 'send'; group: number; dedup: number }
  | { kind: 'receive'; max: number }
  | { kind: 'delete'; pick: number }
  | { kind: 'advance'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('send' as const), group: fc.nat(2), dedup: fc.nat(40) }),
  fc.record({ kind: fc.constant('receive' as const), max: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat(50) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
);

interface Model {
  id: string;
  group: string;
  order: number;
  receives: number;
  handle: string | undefined;
  visibleAt: number;
  deleted: boolean;
}

describe('createSqliteQueue (model check)', () => {
  // 1 row: after its first receive the queue walks the group heads (the few-groups path).
  it.each([
    ['the send-order walk', undefined],
    ['the group-head walk', 1],
  ])(
    'keeps FIFO, visibility, DLQ and no-loss promises under random operations (%s)',
    async (_, receiveScanRows) => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 60 }), async (ops) => {
          const dir = mkdtempSync(join(tmpdir(), 'cs-queue-prop-'));
          let t = 1_700_000_000_000;
          const queue = createSqliteQueue({
            path: join(dir, 'q.db'),
            visibilityTimeoutSec: VISIBILITY_SEC,
            maxReceives: MAX_RECEIVES,
            clock: { now: () => t },
            ...(receiveScanRows === undefined ? {} : { receiveScanRows }),
          });
          const byId = new Map<string, Model>();
          const byDedup = new Map<number, { id: string; at: number }>();
          const handles: string[] = [];
          let order = 0;
          const live = (m: Model) =>
            !m.deleted && !(m.receives >= MAX_RECEIVES && m.visibleAt <= t);
          try {
            /** What a receive must deliver: per group, the visible messages before its first in flight. */
            const deliverable = () => {
              let n = 0;
              const groups = new Map<string, Model[]>();
              const pending = [...byId.values()].filter((m) => !m.deleted);
              for (const m of pending.sort((x, y) => x.order - y.order)) {
                const list = groups.get(m.group);
                if (list) list.push(m);
                else groups.set(m.group, [m]);
              }
              for (const list of groups.values()) {
                for (const m of list) {
                  if (m.receives >= MAX_RECEIVES && m.visibleAt <= t) continue; // off to the DLQ
                  if (m.visibleAt > t) break;
                  n += 1;
                }
              }
              return n;
            };
            const receive = async (max: number) => {
              const expected = Math.min(max, deliverable());
              const got = await queue.receive({ max, waitMs: 0 });
              // As many as are deliverable (up to max): no free group is overlooked.
              expect(got.length).toBe(expected);
              const seenGroups = new Set<string>();
              const thisCall = new Set<string>();
              for (const r of got) {
                const m = byId.get(r.messageId);
                expect(m).toBeDefined();
                // Visible, next receive count, never past maxReceives.
                expect(m!.deleted).toBe(false);
                expect(m!.visibleAt).toBeLessThanOrEqual(t);
                expect(r.receiveCount).toBe(m!.receives + 1);
                expect(r.receiveCount).toBeLessThanOrEqual(MAX_RECEIVES);
                expect(r.groupId).toBe(m!.group);
                const group = [...byId.values()].filter((o) => o.group === m!.group && o !== m);
                if (!seenGroups.has(m!.group)) {
                  // The group had nothing in flight before this call...
                  expect(group.some((o) => !o.deleted && o.visibleAt > t)).toBe(false);
                }
                // ...and everything older in the group is gone (deleted or due for the DLQ), or
                // came earlier in this same call.
                expect(
                  group.some((o) => o.order < m!.order && live(o) && !thisCall.has(o.id)),
                ).toBe(false);
                seenGroups.add(m!.group);
                thisCall.add(m!.id);
                m!.receives = r.receiveCount;
                m!.handle = r.receiptHandle;
                m!.visibleAt = t + VISIBILITY_SEC * 1000;
                handles.push(r.receiptHandle);
              }
              return got;
            };

            for (const o of ops) {
              if (o.kind === 'send') {
                const { messageId } = await queue.send({
                  body: `b${order}`,
                  groupId: `g${o.group}`,
                  dedupId: `d${o.dedup}`,
                });
                const earlier = byDedup.get(o.dedup);
                // A duplicate inside the 5-minute window answers the first id and adds nothing.
                if (earlier !== undefined && t < earlier.at + DEDUP_WINDOW_MS) {
                  expect(messageId).toBe(earlier.id);
                  continue;
                }
                expect(byId.has(messageId)).toBe(false);
                byDedup.set(o.dedup, { id: messageId, at: t });
                byId.set(messageId, {
                  id: messageId,
                  group: `g${o.group}`,
                  order: order++,
                  receives: 0,
                  handle: undefined,
                  visibleAt: t,
                  deleted: false,
                });
              } else if (o.kind === 'receive') {
                await receive(o.max);
              } else if (o.kind === 'delete') {
                const handle = handles[o.pick % Math.max(1, handles.length)];
                if (handle === undefined) continue;
                await queue.delete(handle);
                const m = [...byId.values()].find((x) => x.handle === handle);
                if (m) m.deleted = true; // only the current handle deletes
              } else {
                t += o.ms;
              }
            }

            // Drain: let every lease run out, then receive and delete until nothing comes.
            for (let round = 0; round < 200; round++) {
              t += VISIBILITY_SEC * 1000;
              const got = await receive(10);
              for (const r of got) {
                await queue.delete(r.receiptHandle);
                byId.get(r.messageId)!.deleted = true;
              }
              if (got.length === 0 && queue.depth().visible === 0) break;
            }
            const dead = new Set(queue.dlq({ limit: 1000 }).map((d) => d.messageId));
            expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, dlq: dead.size });
            for (const m of byId.values()) {
              // Exactly one fate per message: deleted, or in the DLQ after its last receive.
              expect(m.deleted !== dead.has(m.id)).toBe(true);
              if (dead.has(m.id)) expect(m.receives).toBe(MAX_RECEIVES);
            }
          } finally {
            await queue.close();
            rmSync(dir, { recursive: true, force: true });
          }
        }),
        { numRuns: 60 },
      );
    },
    60_000,
  );
});
