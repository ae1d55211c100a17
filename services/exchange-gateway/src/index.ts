// @countersign/exchange-gateway: verify locally, refuse replays, execute once, receipt everything.
export { createProcessor, newOwnerId } from './pipeline.ts';
export type { Processor, ProcessorOptions, ProcessResult, RequestVerifier } from './pipeline.ts';
export { createAuthorizer, canonicalJson, policyVersion, SlidingWindowLimiter } from './policy.ts';
export type { Authorizer, AuthorizationResult, PolicyStamp } from './policy.ts';
export { createPaperExchange } from './paper-exchange.ts';
export type { PaperExchange, PaperExchangeOptions } from './paper-exchange.ts';
export type {
  Exchange,
  ExchangeOrder,
  ExecResult,
  CheckpointStore,
  StoredCheckpoint,
  Logger,
} from './ports.ts';
export { silentLogger } from './ports.ts';
export {
  buildReceiptClaims,
  draftFromExecution,
  newReceiptId,
  partitionOf,
  readOwnReceipt,
  sha256B64u,
  streamOf,
} from './receipts.ts';
export type { ReceiptDraft, ReceiptPosition, RequestRef } from './receipts.ts';
export { createChainWriter, createKeyedMutex } from './chain.ts';
export type { AppendInput, Appended, ChainWriter, ChainWriterOptions } from './chain.ts';
export { createCheckpointer, intervalTimer } from './checkpoints.ts';
export type { Checkpointer, CheckpointerOptions, CheckpointTimer } from './checkpoints.ts';
export { createSqliteCheckpointLog } from './checkpoint-log.ts';
export type { SqliteCheckpointLog, SqliteCheckpointLogOptions } from './checkpoint-log.ts';
export { createS3CheckpointStore } from './s3-checkpoint-store.ts';
export type { S3CheckpointStoreOptions } from './s3-checkpoint-store.ts';
export { guardChainHeads, ownTokenVerifiers, readHeadStates } from './head-check.ts';
export type { GuardChainHeadsOptions, StreamHeadState } from './head-check.ts';
export { planHeadRecovery, applyHeadRecovery, recoverHeadsFromConfig } from './head-recovery.ts';
export type { HeadRecoveryOptions, StreamRecovery, RecoveryResult } from './head-recovery.ts';
export { createWorker } from './worker.ts';
export type { Worker, WorkerCounters, WorkerOptions } from './worker.ts';
export { handleSqsBatch, recordToMessage } from './sqs-batch.ts';
export { createGatewayFromConfig } from './wiring.ts';
export type { Gateway, GatewayClients, GatewayOverrides } from './wiring.ts';
export { runGateway } from './main.ts';
export type { RunGatewayOptions } from './main.ts';
export { retrying } from './retry.ts';
export type { RetryOptions } from './retry.ts';
export { GatewayError, exchangeTimeout, isExchangeTimeout, verificationCodeOf } from './errors.ts';
export { createHttpExchange } from './http-exchange.ts';
export type { HttpExchange, HttpExchangeOptions, ListedOrder } from './http-exchange.ts';
export type { ClientStats } from './http-exchange-client.ts';
export { ApiOrder, AuthHeaders, ExchangePaths, signRequest, signingInput } from './exchange-api.ts';
export { settlementOf } from './exchange-orders.ts';
export { ExchangeCredentials } from './credentials/exchange-credentials.ts';
export {
  CREDENTIALS_PURPOSE,
  credentialsContext,
  openCredentials,
  parseSealedCredentials,
  sealCredentials,
  SealedCredentials,
} from './credentials/sealed-credentials.ts';
export {
  createKmsDataKeys,
  createLocalKekDataKeys,
  ensureKekFile,
} from './credentials/data-keys.ts';
export type { DataKeyProvider, EncryptionContext } from './credentials/data-keys.ts';
export {
  describeLocation,
  parseCredentialsLocation,
  readSealedCredentials,
  writeSealedCredentials,
} from './credentials/credentials-location.ts';
export type { CredentialsLocation } from './credentials/credentials-location.ts';
export {
  createExchangeFromConfig,
  credentialsLocationFromConfig,
  dataKeysFromConfig,
  loadExchangeCredentials,
} from './exchange-wiring.ts';
export { startExchangeSimulator } from './exchange-sim/simulator.ts';
export type { ExchangeSimulator, SimulatorOptions } from './exchange-sim/simulator.ts';
export type { SimBehaviour, SimStats } from './exchange-sim/sim-engine.ts';
export type { FaultRates, SimFault, SimFaultRule, SimOp } from './exchange-sim/sim-faults.ts';
export { openSimOrderStore } from './exchange-sim/sim-orders.ts';
export type { SimOrderStore } from './exchange-sim/sim-orders.ts';
