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
  TRANSACTION_TTL_MS,
  receiptReplaces,
  orderKey,
  createMemoryTransactionStore,
} from './transaction-store.ts';
export type {
  OrderRef,
  SubmittedOrder,
  VerifiedReceipt,
  TransactionRecord,
  TransactionStore,
} from './transaction-store.ts';
export { createSqliteTransactionStore } from './sqlite-transaction-store.ts';
export type { SqliteTransactionStoreOptions } from './sqlite-transaction-store.ts';
export {
  createDynamoTransactionStore,
  transactionPk,
  TRANSACTION_PK_PREFIX,
} from './dynamo-transaction-store.ts';
export type { DynamoTransactionStoreOptions } from './dynamo-transaction-store.ts';
export { createReceiptSignals } from './receipt-signals.ts';
export type { ReceiptSignals } from './receipt-signals.ts';
export { createReceiptIntake, createReceiptVerifier } from './receipt-intake.ts';
export type { ReceiptIntake, ReceiptIntakeOptions, IntakeResult } from './receipt-intake.ts';
export {
  receiptCursorOf,
  runEmbeddedReceiptConsumer,
  catchUpEmbeddedReceipts,
  receiptQueueBatch,
  runSqsReceiptConsumer,
} from './receipt-consumers.ts';
export type {
  EmbeddedReceiptConsumerOptions,
  SqsReceiptConsumerOptions,
} from './receipt-consumers.ts';
export {
  createTransactionStatus,
  MAX_WAIT_SEC,
  DEFAULT_STATUS_POLL_MS,
} from './transaction-status.ts';
export type {
  TransactionStatus,
  TransactionStatusOptions,
  TransactionView,
  FindOptions,
} from './transaction-status.ts';
export {
  createRequesterFromConfig,
  createRequesterServiceFromConfig,
  createIdempotencyStoreFromConfig,
  idempotencyDbPath,
} from './wiring.ts';
export {
  createTransactionStoreFromConfig,
  createReceiptsFromConfig,
  receiptKeysFromConfig,
} from './receipts-wiring.ts';
export type { Receipts, ReceiptsOverrides } from './receipts-wiring.ts';
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
export type { OperatorStatus, OperatorStreamStatus } from './operator-routes.ts';
