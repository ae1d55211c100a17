// Receipt claims (DESIGN.md §3): what was asked, what happened, where it sits in its stream.
import { newJti, ReceiptClaims, sha256B64u, WIRE_VERSION } from '@countersign/contracts';
import type { Fill, Outcome, ReasonCode } from '@countersign/contracts';
import { decodeUnverified } from '@countersign/verifier';
import type { ExecResult } from './ports.ts';
import type { PolicyStamp } from './policy.ts';

export { sha256B64u };

/** A receipt's jti: time-ordered, like a request's (see newJti). */
export function newReceiptId(): string {
  return newJti();
}

export interface RequestRef {
  readonly jti: string | null;
  readonly iss: string | null;
  readonly sub: string | null;
  readonly sha256: string;
}

/** Everything of a receipt except its identity and chain position. */
export interface ReceiptDraft {
  readonly req: RequestRef;
  readonly messageId: string;
  readonly outcome: Outcome;
  readonly reason?: ReasonCode;
  readonly detail?: string;
  readonly fills: readonly Fill[];
  readonly policy?: PolicyStamp;
  readonly resolves?: string;
}

export interface ReceiptPosition {
  readonly gatewayId: string;
  readonly iat: number;
  readonly jti: string;
  readonly stream: string;
  readonly seq: number;
  readonly prev: string;
}

/** Builds and validates the claims (a schema failure here is a gateway bug, so it throws). */
export function buildReceiptClaims(draft: ReceiptDraft, at: ReceiptPosition): ReceiptClaims {
  return ReceiptClaims.parse({
    v: WIRE_VERSION,
    iss: at.gatewayId,
    iat: at.iat,
    jti: at.jti,
    req: draft.req,
    messageId: draft.messageId,
    outcome: draft.outcome,
    ...(draft.reason === undefined ? {} : { reason: draft.reason }),
    ...(draft.detail === undefined ? {} : { detail: safeDetail(draft.detail) }),
    fills: draft.fills,
    ...(draft.policy === undefined ? {} : { policy: draft.policy }),
    ...(draft.resolves === undefined ? {} : { resolves: draft.resolves }),
    stream: at.stream,
    seq: at.seq,
    prev: at.prev,
  });
}

/** Human text from outside (e.g. an exchange's reason): printable ASCII, at most 256 chars. */
export function safeDetail(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 256);
}

/** Draft for what the exchange answered. */
export function draftFromExecution(
  base: Pick<ReceiptDraft, 'req' | 'messageId'>,
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
