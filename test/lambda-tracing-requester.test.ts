// The requester Lambda with COUNTERSIGN_TRACING=otlp: the spans of one invocation continue the
// caller's traceparent header (HTTP, sign, queue send) and reach the collector before the
// handler resolves (only the end-of-invocation flush sends batched spans that early).
import { describe, expect, it } from 'vitest';
import { demoOrders } from '@countersign/cli';
import { functionUrlEvent } from '@countersign/requester/testing';
import { callerTrace, useLambdaTracing } from './support/lambda-tracing.ts';

const setup = useLambdaTracing();

describe('requester Lambda tracing', () => {
  it('one invocation = one trace from the traceparent header, flushed before it returns', async () => {
    const { apiKey, receiver } = setup();
    const caller = callerTrace();
    const order = demoOrders(1)[0]!;
    const event = functionUrlEvent(
      'POST',
      '/v1/transactions',
      {
        'content-type': 'application/json',
        authorization: `Bearer ${apiKey}`,
        traceparent: caller.traceparent,
      },
      JSON.stringify({ account: order.account, txn: order.txn }),
    );
    const { handler } = await import('../services/requester/src/lambda.ts');
    const context = { getRemainingTimeInMillis: () => 30_000 };
    const res = await handler(event as never, context as never);
    expect(res.statusCode).toBe(202);

    // Read at once: batched spans are only here if the handler flushed them before resolving.
    const names = receiver.spans.map((s) => s.name);
    for (const name of ['HTTP POST', 'sign', 'queue.send']) expect(names, name).toContain(name);
    expect(new Set(receiver.spans.map((s) => s.traceId))).toEqual(new Set([caller.traceId]));
    const root = receiver.spans.find((s) => s.name === 'HTTP POST')!;
    expect(root.parentSpanId).toBe(caller.spanId);
    expect(root.service).toBe('countersign-requester');
  });
});
