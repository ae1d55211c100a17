import { context, trace } from '@opentelemetry/api';
import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemorySpanExporter, startTracing, type RunningTracing } from './sdk.ts';
import { extractTrace, injectTrace, inTrace, traced, withSpan } from './tracing.ts';

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

  it('runs the work with a span that records nothing, rethrows unchanged, off again after shutdown', async () => {
    const carrier = { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` };
    const seen = await withSpan('x', {}, (span) => Promise.resolve(span), extractTrace(carrier));
    expect(seen.isRecording()).toBe(false);
    expect(trace.getSpan(extractTrace(carrier))).toBeUndefined(); // no link while off
    expect(inTrace(carrier, () => injectTrace())).toBeUndefined();
    const err = Object.assign(new Error('no'), { code: 'BAD_SIGNATURE' });
    await expect(withSpan('x', {}, () => Promise.reject(err))).rejects.toBe(err);

    const spy = new InMemorySpanExporter();
    running = startTracing({ serviceName: 'test', exporter: spy });
    await withSpan('on', {}, () => Promise.resolve());
    expect(spy.getFinishedSpans().map((s) => s.name)).toEqual(['on']);
    await running.shutdown();
    running = undefined;
    // A provider registered without startTracing is not used: the helpers stay off.
    const other = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(other)] });
    provider.register();
    await withSpan('off again', {}, () => Promise.resolve());
    expect(other.getFinishedSpans()).toEqual([]);
    await provider.shutdown();
    trace.disable();
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
