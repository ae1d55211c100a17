// For tests of the HTTP app that do not look at order status: every jti is unknown (404).
import type { TransactionStatus } from '../transaction-status.ts';

export const unknownTransactions: TransactionStatus = { find: () => Promise.resolve(null) };
