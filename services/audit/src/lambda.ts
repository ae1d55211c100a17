// Lambda composition root for the audit queue (SQS event source, ReportBatchItemFailures on).
// The only place of this runtime that reads env; the runtime (KMS public keys, verifiers) is
// built on the first invocation, never at module load, and reused by the container.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { loadConfig, systemClock } from '@countersign/contracts';
import { createEmfMetrics } from '@countersign/observability';
import { handleAuditBatch } from './sqs-handler.ts';
import { createAuditFromConfig, type AuditRuntime } from './wiring.ts';

let runtime: Promise<AuditRuntime> | undefined;
// CloudWatch embedded metric format (findings by code: the "any audit finding" alarm).
const metrics = createEmfMetrics({
  service: 'audit',
  clock: systemClock,
  write: (line) => process.stdout.write(`${line}\n`),
});

function init(): Promise<AuditRuntime> {
  runtime ??= (async () => {
    const rt = createAuditFromConfig(loadConfig(process.env, 'audit'), { metrics });
    await rt.preflight();
    return rt;
  })().catch((err: unknown) => {
    runtime = undefined; // the next invocation tries again
    throw err;
  });
  return runtime;
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const rt = await init();
  try {
    return await handleAuditBatch(event, {
      createAuditor: (options) => rt.createAuditor(options),
      log: (entry) => process.stdout.write(`${JSON.stringify(entry)}\n`),
    });
  } finally {
    metrics.flush();
  }
}
