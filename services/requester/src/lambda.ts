// Lambda entry of the requester HTTP API (API Gateway / function URL events via hono's adapter).
// The app is built lazily on the first invocation and reused by the container; nothing runs
// at module load. Configuration comes from the function's environment (mode = aws).
//
// Idempotency-Key records live in the DynamoDB table COUNTERSIGN_IDEMPOTENCY_TABLE (the wiring's
// aws mode), so a retry that reaches another container, or follows a crash of this one, resumes
// the same jti. In aws mode nothing opens SQLite (better-sqlite3's native addon cannot load here).
import { handle } from 'hono/aws-lambda';
import type { LambdaContext, LambdaEvent } from 'hono/aws-lambda';
import { loadConfig, systemClock } from '@countersign/contracts';
import { createEmfMetrics } from '@countersign/observability';
import { createRequesterServiceFromConfig, type RequesterService } from './wiring.ts';

let service: Promise<RequesterService> | undefined;
let handler_: ReturnType<typeof handle> | undefined;
// CloudWatch embedded metric format (requests, signatures, KMS throttles), flushed per invocation.
const metrics = createEmfMetrics({
  service: 'requester',
  clock: systemClock,
  write: (line) => process.stdout.write(`${line}\n`),
});

export async function handler(event: LambdaEvent, context: LambdaContext) {
  service ??= createRequesterServiceFromConfig(loadConfig(process.env, 'requester'), {
    alsoRecordTo: metrics,
  }).catch((err: unknown) => {
    service = undefined; // a failed cold start is retried by the next invocation
    throw err;
  });
  handler_ ??= handle((await service).app);
  try {
    return await handler_(event, context);
  } finally {
    metrics.flush();
  }
}
