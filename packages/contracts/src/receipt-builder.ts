// How a receipt's claims are built (DESIGN.md §3), in one home for the gateway that signs
// receipts and the synthetic gateway that imitates it, so the two cannot drift apart.
import { ReceiptClaims, WIRE_VERSION, type Fill } from './claims.ts';
import type { Outcome, ReasonCode } from './codes.ts';

/** What the receipt says was asked. */
export interface RequestRef {
  readonly jti: string | null;
  readonly iss: string | null;
  readonly sub: string | null;
  readonly sha256: string;
  /** `false` when the gateway does not keep the request token (the event carries none). */
  readonly kept?: false;
}

/** The policy that authorized an EXECUTED order. */
export interface PolicyStamp {
  /** base64url sha256 of the canonical JSON of the policy. */
  readonly version: string;
  readonly maxNotional: string;
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
  /**
   * NumericDate the gateway verified and claimed the request. The receipt carries it only when it
   * is before the receipt's `iat` (a request receipted later than it was verified).
   */
  readonly verifiedAt?: number;
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
    ...(draft.verifiedAt !== undefined && draft.verifiedAt < at.iat
      ? { verifiedAt: draft.verifiedAt }
      : {}),
    stream: at.stream,
    seq: at.seq,
    prev: at.prev,
  });
}

/** Human text from outside (e.g. an exchange's reason): printable ASCII, at most 256 chars. */
export function safeDetail(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 256);
}
