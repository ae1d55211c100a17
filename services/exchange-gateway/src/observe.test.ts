// Receipt counters against a known workload: one EXECUTED order, one malformed message
// (REJECTED), one exchange timeout (UNKNOWN) whose follow-up comes from the periodic
// reconciliation pass (not from a processed message), and a redelivery answered by
// re-publishing stored receipts. Every new receipt counts once; re-publishes do not.
import { describe, expect, it } from 'vitest';
import { createPromMetrics } from '@countersign/observability';
import { createPaperExchange } from './paper-exchange.ts';
import { observeProcessor } from './observe.ts';
import { createHarness, type FakeBus } from './testing/index.ts';

describe('receipt metrics', () => {
  it('counts first receipts and follow-ups by outcome and reason, not re-publishes', async () => {
    const metrics = createPromMetrics({ processMetrics: false });
    const exchange = createPaperExchange();
    const h = await createHarness({ exchange, processor: { metrics } });
    const processor = observeProcessor(h.processor, { metrics, clock: h.clock });

    await processor.process(h.message(await h.token()));
    await processor.process(h.message('not a token'));
    const timingOut = await h.token();
    exchange.timeoutOnce(h.orderId(timingOut));
    const m = h.message(timingOut);
    expect(await processor.process(m)).toMatchObject({ action: 'leave', why: 'UNRESOLVED' });
    expect(await processor.reconcileUnknown()).toBe(1); // the follow-up, outside process()
    expect(await processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      republished: true,
    });
    // Four receipts, six publications: the redelivery re-published the UNKNOWN and its follow-up.
    const published = (h.bus as FakeBus).events.map((e) => e.receipt);
    expect([published.length, new Set(published).size]).toEqual([6, 4]);

    const counted = (await metrics.snapshot()).receipts_total ?? [];
    const byLabels = Object.fromEntries(
      counted.map((s) => [`${s.labels.outcome}/${s.labels.reason}`, s.value]),
    );
    expect(byLabels).toEqual({
      'EXECUTED/NONE': 2, // the first order and the follow-up resolving the UNKNOWN
      'REJECTED/MALFORMED': 1,
      'UNKNOWN/EXCHANGE_TIMEOUT': 1,
    });
  });
});
