// Tracing with the OpenTelemetry API only: libraries create spans and carry W3C trace context
// through the queue and the bus; the SDK (exporters, propagator, context manager) is wired by
// the entry points (sdk.ts). Until sdk.ts starts one, every call here skips the API: no span is
// recorded and nothing is injected into messages, so tracing off costs a flag check per call.
import {
  context,
  propagation,
  trace,
  INVALID_SPAN_CONTEXT,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { errorCodeOf } from '@countersign/contracts';

export const TRACER_NAME = 'countersign';

// Whether sdk.ts has a tracer provider registered. On globalThis (as the OpenTelemetry API keeps
// its own globals) so that two copies of this package agree. Off, the API would only build
// no-op spans: about 0.6 µs a call that the hot paths skip.
const STATE_KEY = Symbol.for('countersign.observability.tracing');
const state: { on: boolean } = ((globalThis as Record<symbol, unknown>)[STATE_KEY] as
  { on: boolean } | undefined) ?? { on: false };
(globalThis as Record<symbol, unknown>)[STATE_KEY] = state;

/** Called by sdk.ts when it registers (true) and unregisters (false) its tracer provider. */
export function setTracingStarted(on: boolean): void {
  state.on = on;
}

/** The span `fn` gets when tracing is off: records nothing, as the API's own no-op span. */
const OFF_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** W3C trace context as it travels in SQS message attributes and beside the bus event's tokens. */
export interface TraceCarrier {
  readonly traceparent: string;
  readonly tracestate?: string;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The active context as a carrier; undefined when tracing is off or no span is active. */
export function injectTrace(ctx?: Context): TraceCarrier | undefined {
  if (!state.on) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx ?? context.active(), carrier);
  const { traceparent, tracestate } = carrier;
  if (traceparent === undefined || !TRACEPARENT.test(traceparent)) return undefined;
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/**
 * The context a carrier names (the root context when it is absent or malformed: a message's
 * trace context is unauthenticated, so a bad one only costs the link, never the message).
 */
export function extractTrace(carrier: unknown): Context {
  if (!state.on) return context.active();
  if (typeof carrier !== 'object' || carrier === null) return context.active();
  const { traceparent, tracestate } = carrier as Record<string, unknown>;
  if (typeof traceparent !== 'string' || !TRACEPARENT.test(traceparent)) return context.active();
  const clean: Record<string, string> = { traceparent };
  if (typeof tracestate === 'string' && tracestate.length <= 512) clean.tracestate = tracestate;
  return propagation.extract(context.active(), clean);
}

/**
 * Runs `fn` in a new span (child of `parent`, else of the active span); ends it, recording an
 * error's code. The error is rethrown unchanged.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  parent?: Context,
): Promise<T> {
  if (!state.on) return fn(OFF_SPAN);
  const tracer = trace.getTracer(TRACER_NAME);
  return tracer.startActiveSpan(name, { attributes }, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorCodeOf(err) ?? 'error' });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * A port whose listed async methods each run in a span `<prefix>.<method>` (the verifier's
 * verify, the nonce store's claim and complete, the exchange's place, the bus's publish...).
 * The object itself is returned when tracing is off, so the hot path keeps its own calls.
 */
export function traced<T extends object>(
  port: T,
  prefix: string,
  methods: readonly (keyof T & string)[],
  enabled: boolean,
): T {
  if (!enabled) return port;
  const wrapped = Object.create(port) as Record<string, unknown>;
  for (const method of methods) {
    const original = (port as Record<string, unknown>)[method];
    if (typeof original !== 'function') continue;
    wrapped[method] = (...args: unknown[]) =>
      withSpan(`${prefix}.${method}`, {}, () =>
        Promise.resolve((original as (...a: unknown[]) => unknown).apply(port, args)),
      );
  }
  return wrapped as T;
}

/** Runs `fn` in the context a carrier names (work done ahead of its turn, in its own trace). */
export function inTrace<T>(carrier: unknown, fn: () => T): T {
  if (!state.on) return fn();
  return context.with(extractTrace(carrier), fn);
}
