// The OpenTelemetry SDK, for composition roots only (`@countersign/observability/sdk`): a
// tracer provider with the W3C trace-context propagator and an AsyncLocalStorage context
// manager, exporting to the console, to an OTLP/HTTP endpoint, or to memory (tests).
// Libraries never import this module; off (the default) means it is never called.
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import { setTracingStarted } from './tracing.ts';

export { InMemorySpanExporter };
export type { ReadableSpan } from '@opentelemetry/sdk-trace-node';

export type TracingExporter = 'console' | 'otlp' | SpanExporter;

export interface TracingOptions {
  readonly serviceName: string;
  readonly exporter: TracingExporter;
  /** OTLP/HTTP traces endpoint (e.g. http://127.0.0.1:4318/v1/traces); default the SDK's. */
  readonly otlpEndpoint?: string;
}

export interface RunningTracing {
  /** Flushes pending spans and unregisters the provider. */
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}

export function startTracing(options: TracingOptions): RunningTracing {
  const exporter: SpanExporter =
    options.exporter === 'console'
      ? new ConsoleSpanExporter()
      : options.exporter === 'otlp'
        ? new OTLPTraceExporter(options.otlpEndpoint ? { url: options.otlpEndpoint } : {})
        : options.exporter;
  // Spans of an injected exporter (tests) go out synchronously; real exporters batch.
  const processor =
    typeof options.exporter === 'object'
      ? new SimpleSpanProcessor(exporter)
      : new BatchSpanProcessor(exporter);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [processor],
  });
  provider.register();
  setTracingStarted(true);
  return {
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      setTracingStarted(false);
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** The `observability` part of the configuration that tracing needs. */
export interface TracingConfig {
  readonly tracing: 'off' | 'console' | 'otlp';
  readonly otlpEndpoint?: string | undefined;
}

/** Starts tracing as configured; undefined when it is off (the default: nothing registered). */
export function startTracingFromConfig(
  config: TracingConfig,
  serviceName: string,
): RunningTracing | undefined {
  if (config.tracing === 'off') return undefined;
  return startTracing({
    serviceName,
    exporter: config.tracing,
    ...(config.otlpEndpoint ? { otlpEndpoint: config.otlpEndpoint } : {}),
  });
}
