// @countersign/contracts: wire formats, schemas, codes and configuration. Imports nothing of ours.
export { VerificationCodes, ReasonCodes, ErrorCodes, Outcomes } from './codes.ts';
export type { VerificationCode, ReasonCode, ErrorCode, Outcome } from './codes.ts';
export { CountersignError, isCountersignError, errorCodeOf, verificationCodeOf } from './errors.ts';
export { describeSdkError } from './sdk-errors.ts';
export type { SdkErrorInfo } from './sdk-errors.ts';
export { backoffDelayMs } from './backoff.ts';
export { percentile } from './percentile.ts';
export type { SafeDetails } from './errors.ts';
export {
  decimalString,
  decimalPattern,
  toScaled,
  fromScaled,
  multiplyDecimals,
  compareDecimals,
  addDecimals,
} from './decimal.ts';
export type { DecimalPrecision } from './decimal.ts';
export {
  IDENTIFIER,
  JTI,
  SHA256_B64U,
  STREAM,
  Identifier,
  Jti,
  Sha256,
  GENESIS_PREV,
} from './ids.ts';
export { newJti } from './jti.ts';
export {
  createTxnSchema,
  TransactionRequest,
  DEFAULT_TXN_PRECISION,
  Sides,
  TimesInForce,
  SYMBOL,
} from './txn.ts';
export type { TxnPrecision } from './txn.ts';
export {
  WIRE_VERSION,
  TokenTypes,
  Algorithms,
  AlgorithmSchema,
  DEFAULT_LIFETIME_SEC,
  MAX_LIFETIME_SEC,
  createRequestClaimsSchema,
  RequestClaims,
  Fill,
  OutcomeSchema,
  ReasonCodeSchema,
  StreamId,
  ReceiptClaims,
  CheckpointClaims,
  EVENT_SOURCE,
  EVENT_DETAIL_TYPE,
  ReceiptEventDetail,
  TraceContext,
} from './claims.ts';
export type { TokenType, Algorithm } from './claims.ts';
export { formatPath, fieldIssues, safeParse } from './validation.ts';
export type { FieldIssue, Parsed } from './validation.ts';
export {
  CountersignConfig,
  RequesterPolicy,
  ApiKeyEntry,
  CONFIG_ENV,
  Parts,
  ConfigError,
  parseConfig,
  readConfigFile,
  loadConfig,
} from './config.ts';
export type { ConfigInput, ConfigSources, Part } from './config.ts';
export {
  CONFIG_FILE_NAME,
  DEFAULT_DATA_DIR,
  parseConfigText,
  withAbsolutePaths,
} from './config-file.ts';
export type { ConfigFile } from './config-file.ts';
export { systemClock, sleepOn } from './clock.ts';
export type { Clock } from './clock.ts';
export { embeddedPaths, EmbeddedKeyNames } from './paths.ts';
export type { EmbeddedPaths } from './paths.ts';
export {
  FindingCodes,
  FindingCodeSchema,
  AUDIT_REPORT_VERSION,
  Finding,
  PartyTotals,
  TimelineBin,
  StreamSummary,
  StreamProof,
  StateRef,
  AuditMemory,
  AuditSource,
  AuditSummary,
  AuditReport,
  ReconciliationSummary,
} from './audit-report.ts';
export type { FindingCode } from './audit-report.ts';
export { nextCheckpointClaims } from './checkpoint-chain.ts';
export type { CheckpointLink } from './checkpoint-chain.ts';
export { buildReceiptClaims, safeDetail } from './receipt-builder.ts';
export type { PolicyStamp, ReceiptDraft, ReceiptPosition, RequestRef } from './receipt-builder.ts';
export { canonicalJson, sha256B64u, policyVersion, policyVersionWithKeys } from './canonical.ts';
export {
  streamOf,
  gatewayOf,
  partitionOf,
  NonceKeys,
  clientOrderIdOf,
  requestKeyParts,
  MAX_CHECKPOINT_INDEX,
  checkpointObjectKey,
  checkpointObjectPrefix,
  checkpointIndexOfKey,
  CHECKPOINT_MIRROR_FILE,
} from './protocol.ts';
export {
  KeySource,
  KeySet,
  KeyTime,
  KmsKeySource,
  JwksFileSource,
  JwksUrlSource,
  InlineJwksSource,
  DEFAULT_PREVIOUS_KEY_TRUST_SEC,
  isKmsAlias,
  KEY_REREAD_MIN_INTERVAL_MS,
  UNKNOWN_KID_REREAD_MS,
} from './key-sets.ts';
export { isHttpsOrLoopback } from './secure-url.ts';
export {
  HASH_BYTES,
  leafHash,
  nodeHash,
  merkleTree,
  verifyInclusion,
  proofLength,
} from './merkle.ts';
export type { MerkleTree, InclusionFailure } from './merkle.ts';
export {
  BatchTypOf,
  isBatchableType,
  DEFAULT_BATCH_SIZE,
  MAX_BATCH_SIZE,
  BATCH_MEMBERS,
  RequestBatchHeadClaims,
  ReceiptBatchHeadClaims,
  BatchEnvelope,
  batchLeafBytes,
  batchItemDigest,
  isBatchItem,
  receiptChainHash,
  merkleBatch,
  requestBatchHeadClaims,
  receiptBatchHeadClaims,
} from './batch.ts';
export type { BatchableType, BatchHeadType, BatchHeadClaims, MerkleBatch } from './batch.ts';
export type { ExecResult, ListedOrder } from './exchange.ts';
