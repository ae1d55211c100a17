import { context, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemorySpanExporter, startTracing, type RunningTracing } from './sdk.ts';
import { extractTrace, injectTrace, traced, withSpan } from './tracing.ts';

let running: RunningTracing | undefined;
afterEach(async () => {
  await running?.shutdown();
  running = undefined;
});

describe('tracing off (no SDK)', () => {
  it('injects nothing and runs the work', async () => {
    expect(await withSpan('x', {}, () => Promise.resolve(injectTrace()))).toBeUndefined();
    const port = { go: () => Promise.resolve(1) };
    expect(traced(port, 'p', ['go'], false)).toBe(port);
  });
});

describe('tracing on', () => {
  it('carries one trace id through a carrier, and ignores a malformed one', async () => {
    const exporter = new InMemorySpanExporter();
    running = startTracing({ serviceName: 'test', exporter });
    const carrier = await withSpan('producer', {}, () => Promise.resolve(injectTrace()));
    expect(carrier?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const port = { claim: (k: string) => Promise.resolve(`claimed ${k}`) };
    const tracedPort = traced(port, 'nonce', ['claim'], true);
    await withSpan('consumer', {}, () => tracedPort.claim('a'), extractTrace(carrier));
    await withSpan('orphan', {}, () => Promise.resolve(), extractTrace({ traceparent: 'zz' }));
    const spans = exporter.getFinishedSpans();
    const byName = new Map(spans.map((s) => [s.name, s]));
    const producer = byName.get('producer')!;
    expect(byName.get('consumer')!.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(byName.get('nonce.claim')!.parentSpanContext?.spanId).toBe(
      byName.get('consumer')!.spanContext().spanId,
    );
    expect(byName.get('orphan')!.spanContext().traceId).not.toBe(producer.spanContext().traceId);
    expect(trace.getSpan(context.active())).toBeUndefined();
  });

  it('marks a span failed with the error code and rethrows', async () => {
    const exporter = new InMemorySpanExporter();
    running = startTracing({ serviceName: 'test', exporter });
    const err = Object.assign(new Error('no'), { code: 'BAD_SIGNATURE' });
    await expect(withSpan('verify', {}, () => Promise.reject(err))).rejects.toBe(err);
    expect(exporter.getFinishedSpans()[0]?.status).toMatchObject({
      code: 2,
      message: 'BAD_SIGNATURE',
    });
  });
});
