// Public entry of @countersign/infra: the stack and its settings, for the CDK app and for tests
// that deploy the synthesized template elsewhere (test/infra-cloudformation.test.ts).
export { CountersignStack, KMS_THROTTLE_METRIC } from './countersign-stack.ts';
export type { CountersignStackProps } from './countersign-stack.ts';
export { SigningKeySet, KEY_ADMIN_ACTIONS, KEY_USE_ACTIONS } from './signing-keys.ts';
export type { SigningKeySetProps } from './signing-keys.ts';
export {
  ReceiptBus,
  QueueTargetForRuleOnly,
  RECEIPT_SOURCE,
  RECEIPT_DETAIL_TYPE,
} from './receipt-bus.ts';
export { CountersignFunction, BUNDLING } from './countersign-function.ts';
export { IdempotencyTable, IDEMPOTENCY_RECORD_ACTIONS } from './idempotency-table.ts';
export { RequesterReceipts, ORDER_ITEM_PREFIX } from './requester-receipts.ts';
export type { RequesterReceiptsProps } from './requester-receipts.ts';
export type { IdempotencyTableProps } from './idempotency-table.ts';
export { ExchangeCredentials, CREDENTIALS_PURPOSE } from './exchange-credentials.ts';
export type { ExchangeCredentialsProps } from './exchange-credentials.ts';
export {
  DEFAULT_SETTINGS,
  CONTEXT_KEYS,
  EXCHANGE_KINDS,
  KEY_SPECS,
  KMS_SIGNING_ALGORITHM,
  InfraSettingsError,
  algFor,
  parseKeyVersions,
  settingsFromContext,
} from './settings.ts';
export type {
  CountersignSettings,
  ExchangeKind,
  KeyVersion,
  RsaAlg,
  SigningAlg,
  SigningKeySpec,
  TableEncryptionSetting,
} from './settings.ts';
export { nagAcknowledgements, acknowledgeNagFindings } from './nag-suppressions.ts';
export type { NagAcknowledgement } from './nag-suppressions.ts';
