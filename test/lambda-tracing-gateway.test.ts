// The gateway Lambda with COUNTERSIGN_TRACING=otlp: the spans of one invocation continue the
// trace of the SQS traceparent attribute and reach the collector before the handler resolves
// (the batch processor would hold them 5 s: only the end-of-invocation flush sends them); a
// collector that never answers delays the invocation by the flush bound at most and fails nothing.
import { describe, expect, it } from 'vitest';
import { createGatewayFromConfig } from '@countersign/exchange-gateway';
import { LAMBDA_FLUSH_TIMEOUT_MS } from '@countersign/observability/lambda';
import {
  callerTrace,
  useLambdaTracing,
  sqsRecord,
  submitOneOrder,
} from './support/lambda-tracing.ts';

const setup = useLambdaTracing();

describe('gateway Lambda tracing', () => {
  it('one invocation = one trace from the SQS attribute, flushed before it returns', async () => {
    const { config, receiver } = setup();
    // A signed request in the queue, as the requester sends it (tracing not started yet).
    await submitOneOrder(config);
    const reader = await createGatewayFromConfig(config);
    const [message] = await reader.queue.receive({ max: 1, waitMs: 1000 });
    await reader.close();
    expect(message).toBeDefined();

    const caller = callerTrace();
    const event = { Records: [sqsRecord('m-1', message!.body, caller.traceparent, 'acct')] };
    const { handler } = await import('@countersign/exchange-gateway/lambda');
    expect(await handler(event)).toEqual({ batchItemFailures: [] });

    // Read at once: batched spans are only here if the handler flushed them before resolving.
    const names = receiver.spans.map((s) => s.name);
    for (const name of [
      'gateway.process',
      'gateway.verify',
      'gateway.nonce.claim',
      'gateway.exchange.place',
      'sign',
      'gateway.nonce.complete',
      'gateway.bus.publish',
    ]) {
      expect(names, name).toContain(name);
    }
    expect(new Set(receiver.spans.map((s) => s.traceId))).toEqual(new Set([caller.traceId]));
    const root = receiver.spans.find((s) => s.name === 'gateway.process')!;
    expect(root.parentSpanId).toBe(caller.spanId);
    expect(root.service).toBe('countersign-gateway');

    // The collector stops answering: the redelivered message is still handled (re-published),
    // and the invocation waits for its spans no longer than the bound.
    receiver.stall = true;
    const before = receiver.spans.length;
    const started = performance.now();
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(LAMBDA_FLUSH_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(LAMBDA_FLUSH_TIMEOUT_MS + 2000);
    expect(receiver.spans.length).toBe(before);
  });
});
