// Lambda composition root for the SQS event source mapping (ReportBatchItemFailures on).
// The only place of this runtime that reads env. Clients and adapters are built once per
// container, on the first invocation (never at module load), and reused.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { loadConfig } from '@countersign/contracts';
import { handleSqsBatch } from './sqs-batch.ts';
import { createGatewayFromConfig, type Gateway } from './wiring.ts';

let gateway: Promise<Gateway> | undefined;

function init(): Promise<Gateway> {
  gateway ??= createGatewayFromConfig(loadConfig(process.env, 'gateway')).catch((err: unknown) => {
    gateway = undefined; // let the next invocation try again
    throw err;
  });
  return gateway;
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const gw = await init();
  return handleSqsBatch(event, gw.processor, {
    concurrency: gw.config.gateway.concurrency,
    logger: gw.logger,
    queue: gw.queue, // the event source's queue (COUNTERSIGN_QUEUE_URL)
  });
}
