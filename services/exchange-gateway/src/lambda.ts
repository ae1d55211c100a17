// Lambda composition root for the SQS event source mapping (ReportBatchItemFailures on).
// The only place of this runtime that reads env. Clients and adapters are built once per
// container, on the first invocation (never at module load), and reused.
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { loadConfig, systemClock } from '@countersign/contracts';
import { createEmfMetrics } from '@countersign/observability';
import {
  flushLambdaSpans,
  startLambdaTracing,
  type RunningTracing,
} from '@countersign/observability/lambda';
import { handleSqsBatch } from './sqs-batch.ts';
import { createGatewayFromConfig, type Gateway } from './wiring.ts';

interface Container {
  readonly gateway: Gateway;
  readonly tracing: RunningTracing | undefined;
}

let container: Promise<Container> | undefined;
// CloudWatch embedded metric format: one JSON line per label set, flushed after each batch.
const metrics = createEmfMetrics({
  service: 'gateway',
  clock: systemClock,
  write: (line) => process.stdout.write(`${line}\n`),
});

function init(): Promise<Container> {
  container ??= (async () => {
    const config = loadConfig(process.env, 'gateway');
    // As the worker does (main.ts): spans only when COUNTERSIGN_TRACING says where they go.
    const tracing = await startLambdaTracing(config.observability, 'countersign-gateway');
    try {
      const gateway = await createGatewayFromConfig(config, {
        metrics,
        tracing: tracing !== undefined,
      });
      return { gateway, tracing };
    } catch (err) {
      await tracing?.shutdown(); // unregistered, so the next cold start can register again
      throw err;
    }
  })().catch((err: unknown) => {
    container = undefined; // let the next invocation try again
    throw err;
  });
  return container;
}

export async function handler(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  const { gateway: gw, tracing } = await init();
  try {
    return await handleSqsBatch(event, gw.processor, {
      concurrency: gw.config.gateway.concurrency,
      logger: gw.logger,
      queue: gw.queue, // the event source's queue (COUNTERSIGN_QUEUE_URL)
    });
  } finally {
    metrics.flush();
    await flushLambdaSpans(tracing, context);
  }
}
