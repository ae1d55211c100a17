// Lambda entry of the requester HTTP API (API Gateway / function URL events via hono's adapter).
// The app is built lazily on the first invocation and reused by the container; nothing runs
// at module load. Configuration comes from the function's environment (mode = aws).
//
// Idempotency-Key records live in memory, per container: the same guarantee a /tmp SQLite file
// would give, without loading the native better-sqlite3 addon (not bundled into the function).
// Retries that land on another container are not recognised (a DynamoDB adapter would be).
import { handle } from 'hono/aws-lambda';
import type { LambdaContext, LambdaEvent } from 'hono/aws-lambda';
import { loadConfig, systemClock } from '@countersign/contracts';
import { createMemoryIdempotencyStore } from './idempotency-store.ts';
import { createRequesterServiceFromConfig, type RequesterService } from './wiring.ts';

let service: Promise<RequesterService> | undefined;
let handler_: ReturnType<typeof handle> | undefined;

export async function handler(event: LambdaEvent, context: LambdaContext) {
  service ??= createRequesterServiceFromConfig(loadConfig(process.env, 'requester'), {
    idempotency: createMemoryIdempotencyStore({ clock: systemClock }),
  }).catch((err: unknown) => {
    service = undefined; // a failed cold start is retried by the next invocation
    throw err;
  });
  handler_ ??= handle((await service).app);
  return handler_(event, context);
}
