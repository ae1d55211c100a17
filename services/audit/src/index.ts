// @countersign/audit: verify every receipt and the request inside, check the chains, report.
export { createAuditor, peekUnverified } from './auditor.ts';
export type { Auditor, AuditorOptions, FinishOptions, IngestResult } from './auditor.ts';
export type {
  TokenVerifiers,
  CheckpointSource,
  CheckpointEntry,
  StreamStart,
  RememberedStream,
  FindingListener,
} from './ports.ts';
export type { AuditScope } from './stream-proof.ts';
export { createAuditVerifiers } from './verifiers.ts';
export type { AuditVerifierOptions } from './verifiers.ts';
export { embeddedCheckpoints, s3Checkpoints, staticCheckpoints } from './checkpoint-sources.ts';
export { renderText, formatFinding, formatVerdict } from './report-text.ts';
export { renderHtml, escapeHtml } from './report-html.ts';
export { sha256B64u } from './digest.ts';
export { AuditError } from './errors.ts';
export type { AuditErrorCode } from './errors.ts';
export { createSyntheticGateway, createSyntheticKit } from './synthetic-gateway.ts';
export type {
  SyntheticGateway,
  SyntheticGatewayOptions,
  SyntheticKit,
  EmitOptions,
  EmittedReceipt,
} from './synthetic-gateway.ts';
export {
  replayEmbeddedArchive,
  runEmbeddedLive,
  runSqsLive,
  replayEventBridgeArchive,
  auditQueueMessage,
} from './sources.ts';
export type {
  StateSaving,
  StateErrorListener,
  ProgressListener,
  ArchiveReplayOptions,
  EmbeddedLiveOptions,
  SqsLiveOptions,
  EventBridgeReplayOptions,
  LiveDrain,
  IngestListener,
} from './sources.ts';
export { jsonFileAuditState, mergeMemory } from './state-file.ts';
export type { AuditStateStore, DurableWrite } from './state-file.ts';
export { saveWithRetry } from './sources.ts';
export { createAuditFromConfig } from './wiring.ts';
export type {
  AuditOverrides,
  AuditRuntime,
  ReplayRequest,
  LiveRequest,
  FollowRequest,
  ReconcileRequest,
} from './wiring.ts';
export { reconcile, indexReceipts, idsToLookUp, stuckRecords } from './reconcile.ts';
export type {
  ExchangeListedOrder,
  ExchangeOrderSource,
  ExchangeResult,
  InProgressRecord,
  InProgressSource,
  ReceiptFact,
  ReceiptIndex,
  ReconcileInput,
  ReconcileOutcome,
  ReconcileWindow,
} from './reconcile.ts';
export { reconcileExchange } from './reconcile-reader.ts';
export type { ReconcileOptions } from './reconcile-reader.ts';
export { handleAuditBatch } from './sqs-handler.ts';
export type { AuditLambdaDeps } from './sqs-handler.ts';
