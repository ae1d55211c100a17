// @countersign/replay-guard: the NonceStore port with SQLite and DynamoDB adapters.
export type {
  StoredReceipt,
  NonceRecord,
  ClaimResult,
  ClaimOptions,
  ChainHead,
  CompleteOptions,
  NonceStore,
} from './ports.ts';
