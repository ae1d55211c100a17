// The audit Lambda with COUNTERSIGN_TRACING=otlp: the verification span of a receipt event
// continues the trace carried in the bus event's `trace` field (beside the receipt), and reaches
// the collector before the handler resolves (only the end-of-invocation flush sends it that early).
import { describe, expect, it } from 'vitest';
import type { ReceiptEventDetail } from '@countersign/contracts';
import { createGatewayFromConfig } from '@countersign/exchange-gateway';
import {
  callerTrace,
  useLambdaTracing,
  sqsRecord,
  submitOneOrder,
} from './support/lambda-tracing.ts';

const setup = useLambdaTracing();

describe('audit Lambda tracing', () => {
  it('one invocation = one trace from the bus event field, flushed before it returns', async () => {
    const { config, receiver } = setup();
    // A real receipt event (tracing not started yet, so it carries no trace of its own).
    await submitOneOrder(config);
    const published: ReceiptEventDetail[] = [];
    const gateway = await createGatewayFromConfig(config, {
      bus: { publish: (events) => Promise.resolve(void published.push(...events)) },
    });
    const [message] = await gateway.queue.receive({ max: 1, waitMs: 1000 });
    expect(await gateway.processor.process(message!)).toMatchObject({ outcome: 'EXECUTED' });
    await gateway.close();
    expect(published).toHaveLength(1);

    const caller = callerTrace();
    const envelope = {
      version: '0',
      id: 'evt-1',
      'detail-type': 'TransactionReceipt',
      source: 'countersign.gateway',
      time: new Date().toISOString(),
      detail: { ...published[0]!, trace: { traceparent: caller.traceparent } },
    };
    const { handler } = await import('../services/audit/src/lambda.ts');
    const event = { Records: [sqsRecord('a-1', JSON.stringify(envelope), caller.traceparent)] };
    expect(await handler(event)).toEqual({ batchItemFailures: [] });

    // Read at once: a batched span is only here if the handler flushed it before resolving.
    const verify = receiver.spans.filter((s) => s.name === 'audit.verify');
    expect(verify).toHaveLength(1);
    expect(new Set(receiver.spans.map((s) => s.traceId))).toEqual(new Set([caller.traceId]));
    expect(verify[0]!.parentSpanId).toBe(caller.spanId);
    expect(verify[0]!.service).toBe('countersign-audit');
  });
});
