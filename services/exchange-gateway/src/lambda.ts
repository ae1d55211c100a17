// Lambda composition root for the SQS event source mapping (ReportBatchItemFailures on).
// The only place of this runtime that reads env. Clients and adapters are built once per
// container, on the first invocation (never at module load), and reused.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { loadConfig, systemClock } from '@countersign/contracts';
import { createEmfMetrics } from '@countersign/observability';
import { handleSqsBatch } from './sqs-batch.ts';
import { createGatewayFromConfig, type Gateway } from './wiring.ts';

let gateway: Promise<Gateway> | undefined;
// CloudWatch embedded metric format: one JSON line per label set, flushed after each batch.
const metrics = createEmfMetrics({
  service: 'gateway',
  clock: systemClock,
  write: (line) => process.stdout.write(`${line}\n`),
});

function init(): Promise<Gateway> {
  gateway ??= createGatewayFromConfig(loadConfig(process.env, 'gateway'), { metrics }).catch(
    (err: unknown) => {
      gateway = undefined; // let the next invocation try again
      throw err;
    },
  );
  return gateway;
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const gw = await init();
  try {
    return await handleSqsBatch(event, gw.processor, {
      concurrency: gw.config.gateway.concurrency,
      logger: gw.logger,
      queue: gw.queue, // the event source's queue (COUNTERSIGN_QUEUE_URL)
    });
  } finally {
    metrics.flush();
  }
}
