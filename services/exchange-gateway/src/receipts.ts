// Receipt claims (DESIGN.md §3): what was asked, what happened, where it sits in its stream.
import { newJti, ReceiptClaims, sha256B64u } from '@countersign/contracts';
import type { PolicyStamp, ReceiptDraft } from '@countersign/contracts';
import { decodeUnverified } from '@countersign/verifier';
import type { ExecResult } from './ports.ts';

export { sha256B64u };
// The claims builder lives in contracts, shared with audit's synthetic gateway.
export { buildReceiptClaims, safeDetail } from '@countersign/contracts';
export type { ReceiptDraft, ReceiptPosition, RequestRef } from '@countersign/contracts';

/** A receipt's jti: time-ordered, like a request's (see newJti). */
export function newReceiptId(): string {
  return newJti();
}

/** Draft for what the exchange answered. */
export function draftFromExecution(
  base: Pick<ReceiptDraft, 'req' | 'messageId' | 'verifiedAt'>,
  result: ExecResult,
  policy: PolicyStamp | undefined,
  resolves?: string,
): ReceiptDraft {
  const extra = resolves === undefined ? {} : { resolves };
  if (result.status === 'FILLED') {
    return {
      ...base,
      outcome: 'EXECUTED',
      fills: result.fills,
      ...(policy ? { policy } : {}),
      ...extra,
    };
  }
  return {
    ...base,
    outcome: 'FAILED',
    reason: 'EXCHANGE_REJECTED',
    detail: result.reason,
    fills: [],
    ...extra,
  };
}

/**
 * Reads the claims of a receipt this gateway signed and stored itself (from the nonce store,
 * which is trusted): no signature check, but the schema is enforced.
 */
export function readOwnReceipt(token: string): ReceiptClaims {
  return ReceiptClaims.parse(decodeUnverified(token));
}
