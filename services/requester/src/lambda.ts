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
import {
  flushLambdaSpans,
  startLambdaTracing,
  type RunningTracing,
} from '@countersign/observability/lambda';
import { createRequesterServiceFromConfig } from './wiring.ts';

interface Container {
  readonly handle: ReturnType<typeof handle>;
  readonly tracing: RunningTracing | undefined;
}

let container: Promise<Container> | undefined;
// CloudWatch embedded metric format (requests, signatures, KMS throttles), flushed per invocation.
const metrics = createEmfMetrics({
  service: 'requester',
  clock: systemClock,
  write: (line) => process.stdout.write(`${line}\n`),
});

function init(): Promise<Container> {
  container ??= (async () => {
    const config = loadConfig(process.env, 'requester');
    // As the HTTP server does (main.ts): spans only when COUNTERSIGN_TRACING says where they go.
    const tracing = await startLambdaTracing(config.observability, 'countersign-requester');
    try {
      const service = await createRequesterServiceFromConfig(config, { alsoRecordTo: metrics });
      return { handle: handle(service.app), tracing };
    } catch (err) {
      await tracing?.shutdown(); // unregistered, so the next cold start can register again
      throw err;
    }
  })().catch((err: unknown) => {
    container = undefined; // a failed cold start is retried by the next invocation
    throw err;
  });
  return container;
}

export async function handler(event: LambdaEvent, context: LambdaContext) {
  const { handle: serve, tracing } = await init();
  try {
    return await serve(event, context);
  } finally {
    metrics.flush();
    await flushLambdaSpans(tracing, context);
  }
}
