// @countersign/requester: sign transaction requests and enqueue them (library, HTTP API, CLI glue).
export { createRequester, SEND_BATCH_SIZE, DEFAULT_SIGN_CONCURRENCY } from './requester.ts';
export type {
  Requester,
  RequesterOptions,
  Submitted,
  SignedRequest,
  SubmitItem,
  ResendItem,
  SubmitManyItem,
  ItemResult,
  ItemFailure,
  SignResult,
  SubmitManyOptions,
} from './requester.ts';
export { RequesterError, requestInvalid } from './errors.ts';
export type { RequesterErrorCode } from './errors.ts';
export { newJti } from '@countersign/contracts';
export { hashApiKey, generateApiKey, createApiKeyAuthenticator, bearerToken } from './api-keys.ts';
export type { ApiKeyPrincipal, ApiKeyAuthenticator } from './api-keys.ts';
export {
  createMemoryIdempotencyStore,
  IDEMPOTENCY_TTL_MS,
  IDEMPOTENCY_LEASE_MS,
} from './idempotency-store.ts';
export type {
  IdempotencyStore,
  IdempotencyStoreOptions,
  BeginResult,
  FixedRequest,
  StoredResponse,
} from './idempotency-store.ts';
export { submitOnce, submitEachOnce, singleWork, batchWork } from './idempotent-submit.ts';
export type {
  IdempotencyId,
  OnceOutcome,
  OnceWork,
  OnceItem,
  EachResult,
  BatchItemResult,
  SubmitEachOptions,
} from './idempotent-submit.ts';
export { createSqliteIdempotencyStore } from './sqlite-idempotency-store.ts';
export type { SqliteIdempotencyStoreOptions } from './sqlite-idempotency-store.ts';
export { createDynamoIdempotencyStore } from './dynamo-idempotency-store.ts';
export type { DynamoIdempotencyStoreOptions } from './dynamo-idempotency-store.ts';
export { DYNAMO_MAX_ITEM_BYTES } from './dynamo-idempotency-item.ts';
export { canonicalJson, canonicalSha256 } from './canonical-json.ts';
export { createRequesterApp, MAX_BATCH_ITEMS } from './http-app.ts';
export type { RequesterAppOptions } from './http-app.ts';
export { problem, PROBLEM_CONTENT_TYPE } from './problem.ts';
export type { Problem, ProblemKind } from './problem.ts';
export {
  createRequesterFromConfig,
  createRequesterServiceFromConfig,
  createIdempotencyStoreFromConfig,
  idempotencyDbPath,
} from './wiring.ts';
export type {
  RequesterOverrides,
  WiredRequester,
  RequesterServiceOverrides,
  RequesterService,
} from './wiring.ts';
export { startHttpServer } from './server.ts';
export type { RunningServer } from './server.ts';
export { runRequesterServer } from './run-server.ts';
export type { RunningRequester } from './run-server.ts';
