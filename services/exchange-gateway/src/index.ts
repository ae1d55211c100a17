// @countersign/exchange-gateway: verify locally, refuse replays, execute once, receipt everything.
// The public surface: build a gateway from configuration (any adapter can be overridden), run it
// (`createWorker`, `runGateway`; the Lambda handler is `@countersign/exchange-gateway/lambda`),
// and the paper exchange. The pipeline's parts (decision table, executor, chain writer,
// receipts, checkpoints) are internal.
export { createGatewayFromConfig } from './wiring.ts';
export type { Gateway, GatewayClients, GatewayOverrides } from './wiring.ts';
export { createWorker } from './worker.ts';
export type { Worker, WorkerCounters, WorkerOptions } from './worker.ts';
export { runGateway } from './main.ts';
export type { RunGatewayOptions } from './main.ts';
export type { Processor, ProcessResult, RequestVerifier } from './pipeline.ts';
export { createPaperExchange } from './paper-exchange.ts';
export type { PaperExchange, PaperExchangeOptions } from './paper-exchange.ts';
export { silentLogger } from './ports.ts';
export type {
  CheckpointStore,
  Exchange,
  ExchangeOrder,
  ExecResult,
  ListedOrder,
  ListOrdersRange,
  Logger,
} from './ports.ts';
export { createChainWriter } from './chain.ts';
export type { AppendInput, ChainWriter, ChainWriterOptions } from './chain.ts';
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
export { createHttpExchange } from './http-exchange.ts';
export type { HttpExchange, HttpExchangeOptions } from './http-exchange.ts';
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
