import { describe, expect, it } from 'vitest';
import type { ReceiptEventDetail } from '@countersign/contracts';
import { createCoalescingPublisher } from './publisher.ts';

const ev = (i: number): ReceiptEventDetail => ({
  receipt: `a.b.${i}`,
  request: null,
  messageId: `m${i}`,
});

describe('coalescing publisher', () => {
  it('events of one turn go out in batches of at most maxBatch, each caller resolved', async () => {
    const calls: ReceiptEventDetail[][] = [];
    const publish = createCoalescingPublisher(
      { publish: (e) => (calls.push([...e]), Promise.resolve()) },
      10,
    );
    await Promise.all(Array.from({ length: 23 }, (_, i) => publish(ev(i))));
    expect(calls.map((c) => c.length)).toEqual([10, 10, 3]);
    expect(calls.flat().map((e) => e.messageId)).toEqual(
      Array.from({ length: 23 }, (_, i) => `m${i}`),
    );
  });

  it('a failed batch rejects exactly its callers', async () => {
    let n = 0;
    const publish = createCoalescingPublisher(
      { publish: () => (++n === 1 ? Promise.reject(new Error('down')) : Promise.resolve()) },
      2,
    );
    const results = await Promise.allSettled([publish(ev(1)), publish(ev(2)), publish(ev(3))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  });
});
