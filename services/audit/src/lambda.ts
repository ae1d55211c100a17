// Lambda composition root for the audit queue (SQS event source, ReportBatchItemFailures on).
// The only place of this runtime that reads env; the runtime (KMS public keys, verifiers) is
// built on the first invocation, never at module load, and reused by the container.
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { loadConfig, systemClock } from '@countersign/contracts';
import { createEmfMetrics } from '@countersign/observability';
import {
  flushLambdaSpans,
  startLambdaTracing,
  type RunningTracing,
} from '@countersign/observability/lambda';
import { handleAuditBatch } from './sqs-handler.ts';
import { createAuditFromConfig, type AuditRuntime } from './wiring.ts';

interface Container {
  readonly runtime: AuditRuntime;
  readonly tracing: RunningTracing | undefined;
}

let container: Promise<Container> | undefined;
// CloudWatch embedded metric format (findings by code: the "any audit finding" alarm).
const metrics = createEmfMetrics({
  service: 'audit',
  clock: systemClock,
  write: (line) => process.stdout.write(`${line}\n`),
});

function init(): Promise<Container> {
  container ??= (async () => {
    const config = loadConfig(process.env, 'audit');
    // As the live audit does (main.ts): spans only when COUNTERSIGN_TRACING says where they go.
    const tracing = await startLambdaTracing(config.observability, 'countersign-audit');
    try {
      const runtime = createAuditFromConfig(config, { metrics });
      await runtime.preflight();
      return { runtime, tracing };
    } catch (err) {
      await tracing?.shutdown(); // unregistered, so the next cold start can register again
      throw err;
    }
  })().catch((err: unknown) => {
    container = undefined; // the next invocation tries again
    throw err;
  });
  return container;
}

export async function handler(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  const { runtime: rt, tracing } = await init();
  try {
    return await handleAuditBatch(event, {
      createAuditor: (options) => rt.createAuditor(options),
      log: (entry) => process.stdout.write(`${JSON.stringify(entry)}\n`),
    });
  } finally {
    metrics.flush();
    await flushLambdaSpans(tracing, context);
  }
}
