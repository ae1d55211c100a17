// Tracing in a Lambda composition root (`@countersign/observability/lambda`): the SDK is loaded
// at the cold start only when tracing is on (off, a cold start imports none of it), and each
// invocation ends with a bounded flush, since Lambda freezes the container once it returns.
import type { RunningTracing, TracingConfig } from './sdk.ts';

export type { RunningTracing } from './sdk.ts';

/** Starts tracing as configured (see sdk.ts); undefined, and nothing loaded, when it is off. */
export async function startLambdaTracing(
  config: TracingConfig,
  serviceName: string,
): Promise<RunningTracing | undefined> {
  if (config.tracing === 'off') return undefined;
  const { startTracingFromConfig } = await import('./sdk.ts');
  return startTracingFromConfig(config, serviceName);
}

/** Longest a Lambda invocation waits for its spans to leave before it returns. */
export const LAMBDA_FLUSH_TIMEOUT_MS = 1000;
/** Time left to the Lambda deadline that a flush never eats into. */
const LAMBDA_DEADLINE_MARGIN_MS = 500;

/**
 * Flushes pending spans, waiting at most `timeoutMs`; resolves false when they did not all leave
 * in time or the export failed, and never rejects. A slow or unreachable collector costs the
 * spans, never the work.
 */
export async function flushWithin(tracing: RunningTracing, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
    timer.unref();
  });
  try {
    return await Promise.race([
      tracing.forceFlush().then(
        () => true,
        () => false,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The end of a Lambda invocation: Lambda freezes the container once the handler returns, so the
 * batched spans are flushed first, bounded by LAMBDA_FLUSH_TIMEOUT_MS and by the invocation's
 * deadline (a flush must not turn a handled batch into a timeout). A no-op when tracing is off.
 */
export async function flushLambdaSpans(
  tracing: RunningTracing | undefined,
  context?: { getRemainingTimeInMillis?: () => number },
): Promise<boolean> {
  if (tracing === undefined) return true;
  const remaining = context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
  const budget = Math.min(LAMBDA_FLUSH_TIMEOUT_MS, remaining - LAMBDA_DEADLINE_MARGIN_MS);
  return budget > 0 ? flushWithin(tracing, budget) : false;
}
