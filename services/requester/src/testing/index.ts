// Test support of @countersign/requester (`@countersign/requester/testing`): the contract every
// IdempotencyStore adapter runs, and the largest record an adapter must be able to keep.
export {
  describeIdempotencyStoreContract,
  ownerOf,
  signedRequest,
  tokenFor,
} from './idempotency-store-contract.ts';
export type { IdempotencyStoreHarness } from './idempotency-store-contract.ts';
export { largestBatch, LARGEST_TXN } from './largest-batch.ts';
export { unknownTransactions } from './transactions.ts';
export { describeTransactionStoreContract } from './transaction-store-contract.ts';
export type { TransactionStoreHarness } from './transaction-store-contract.ts';
export { gatewayKit, tamperPayload, resignedUnderSameKid } from './receipts.ts';
export type { GatewayKit, ReceiptOrder, ReceiptOptions } from './receipts.ts';
export { functionUrlEvent } from './function-url.ts';
