// The audit queue's Lambda handler logic (SQS event source, ReportBatchItemFailures on).
// Findings are logged as structured JSON, one line each; they are results, not failures, so a
// message with findings is acknowledged. Only a processing error (e.g. KMS unreachable while
// resolving keys) puts the message in batchItemFailures for a retry.
// Per-receipt checks only: a Lambda sees arbitrary slices of the streams, so chain continuity
// (gaps, tail truncation) is left to the scheduled `countersign audit replay`.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { errorCodeOf, type Finding } from '@countersign/contracts';
import type { AuditorOptions, Auditor } from './auditor.ts';
import { auditQueueMessage } from './sources.ts';

export interface AuditLambdaDeps {
  createAuditor(options: Partial<AuditorOptions>): Auditor;
  /** One JSON object per line (CloudWatch Logs parses it). */
  log(entry: Record<string, unknown>): void;
}

export async function handleAuditBatch(
  event: SQSEvent,
  deps: AuditLambdaDeps,
): Promise<SQSBatchResponse> {
  const auditor = deps.createAuditor({
    window: { checkpointsUntil: null },
    onFinding: (f: Finding) => deps.log({ level: 'warn', msg: 'audit finding', ...f }),
  });
  const failures: { itemIdentifier: string }[] = [];
  let audited = 0;
  for (const [i, record] of event.Records.entries()) {
    try {
      await auditQueueMessage(auditor, { body: record.body, messageId: record.messageId });
      audited++;
    } catch (err) {
      deps.log({
        level: 'error',
        msg: 'audit processing failed',
        record: `Records[${i}]`,
        messageId: record.messageId,
        code: errorCodeOf(err) ?? null,
        error: err instanceof Error ? err.message : String(err),
      });
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  deps.log({
    level: 'info',
    msg: 'audit batch',
    records: event.Records.length,
    audited,
    findings: auditor.findingCount(),
    failed: failures.length,
  });
  return { batchItemFailures: failures };
}
