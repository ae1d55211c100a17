// @countersign/replay-guard: the NonceStore port with SQLite and DynamoDB adapters.
export type {
  StoredReceipt,
  NonceRecord,
  ClaimResult,
  ClaimOptions,
  ChainHead,
  CompleteOptions,
  NonceStore,
  RestoredRecord,
} from './ports.ts';
export { createSqliteNonceStore } from './sqlite-nonce-store.ts';
export type { SqliteNonceStore, SqliteNonceStoreOptions } from './sqlite-nonce-store.ts';
export { openSqliteNonceReader } from './sqlite-nonce-reader.ts';
export type {
  InProgressEntry,
  NonceReader,
  SqliteNonceReaderOptions,
} from './sqlite-nonce-reader.ts';
export { createDynamoNonceStore, ttlSeconds } from './dynamo-nonce-store.ts';
export type { DynamoNonceStoreOptions } from './dynamo-nonce-store.ts';
export { createDynamoNonceTable } from './dynamo-nonce-table.ts';
export { nonceConflict, chainConflict, storeError, fromSdkError } from './errors.ts';
export type { NonceConflictError, ChainConflictError, StoreError } from './errors.ts';
