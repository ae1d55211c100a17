// Composition root of the long-running gateway worker (`npm start`, `countersign gateway`).
// Reads env, wires adapters, runs until SIGTERM/SIGINT, then finishes in-flight messages.
// Embedded mode: one gateway process per data directory (the `gateway` role lock); a second one
// fails at once with LOCKED, and a new one takes back what a killed one left in flight.
import { pathToFileURL } from 'node:url';
import { loadConfig } from '@countersign/contracts';
import { startProcessMetrics } from '@countersign/observability';
import { startTracingFromConfig } from '@countersign/observability/sdk';
import { createWorker, type WorkerCounters } from './worker.ts';
import { createGatewayFromConfig } from './wiring.ts';

export interface RunGatewayOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Stop when aborted; by default SIGTERM and SIGINT stop the worker. */
  readonly signal?: AbortSignal;
}

export async function runGateway(options: RunGatewayOptions = {}): Promise<WorkerCounters> {
  const config = loadConfig(options.env ?? process.env, 'gateway');
  const { observability } = config;
  const tracing = startTracingFromConfig(observability, 'countersign-gateway');
  const { metrics, server: metricsServer } = await startProcessMetrics(observability, 'gateway');
  const gw = await createGatewayFromConfig(config, {
    exclusive: true,
    metrics,
    tracing: tracing !== undefined,
  }).catch(async (err: unknown) => {
    await metricsServer?.close();
    await tracing?.shutdown();
    throw err;
  });
  if (metricsServer) gw.logger.info({ url: metricsServer.url }, 'metrics');
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    gw.logger.info({ signal: sig }, 'stopping: finishing in-flight messages');
    stop.abort();
  };
  options.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  if (options.signal?.aborted) stop.abort(); // aborted while the gateway was being built
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const worker = createWorker({
    queue: gw.queue,
    processor: gw.processor,
    concurrency: config.gateway.concurrency,
    visibilityTimeoutSec: config.queue.visibilityTimeoutSec,
    waitMs: config.mode === 'aws' ? 20_000 : 1000,
    signal: stop.signal,
    logger: gw.logger,
  });
  gw.logger.info(
    {
      gatewayId: config.gateway.id,
      mode: config.mode,
      kid: gw.signer.kid,
      partitions: config.gateway.partitions,
    },
    'gateway started',
  );
  try {
    await worker.run();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await gw.close();
    await metricsServer?.close();
    await tracing?.shutdown();
    gw.logger.info({ counters: worker.counters() }, 'gateway stopped');
  }
  return worker.counters();
}

// Run directly: `tsx services/exchange-gateway/src/main.ts`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runGateway().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
