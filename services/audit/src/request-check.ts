// The receipt's event: the request token and messageId that travel beside a verified receipt
// must be the ones it commits to, and the request must verify (with the requester's keys, as of
// the time the gateway verified it) unless the receipt is a REJECTED one. Returns findings,
// reports nothing.
//
// That time is the receipt's `verifiedAt` when it has one, else its `iat`: a request claimed on
// an earlier delivery may be receipted long after its token expired (a takeover after a crash, a
// reconciliation, an UNKNOWN's follow-up), which is correct as long as it was valid when the
// gateway verified and claimed it. `verifiedAt` is never after `iat` (the receipt schema refuses
// it), and a verification time outside the request's window is still OUTSIDE_VALIDITY_WINDOW.
import {
  errorCodeOf,
  verificationCodeOf,
  type ReceiptClaims,
  type ReceiptEventDetail,
  type RequestClaims,
} from '@countersign/contracts';
import { sha256B64u } from './digest.ts';
import type { FindingBody } from './findings.ts';
import type { TokenVerifiers } from './ports.ts';

export interface RequestCheck {
  readonly found: FindingBody[];
  /** The verified request claims (null when absent, rejected or failing). */
  readonly req: RequestClaims | null;
}

/**
 * Verification failures become findings; anything else (a key store down, a bug) is thrown so
 * the caller retries instead of reporting tampering that did not happen.
 */
export function rethrowUnlessVerificationFailure(err: unknown): void {
  if (verificationCodeOf(err) === undefined) throw err;
}

export function errorCode(err: unknown): string {
  return errorCodeOf(err) ?? 'UNKNOWN_ERROR';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The event's unsigned fields against what the receipt signs. */
function eventBinding(claims: ReceiptClaims, detail: ReceiptEventDetail): FindingBody[] {
  const found: FindingBody[] = [];
  if (detail.messageId !== claims.messageId) {
    found.push({
      code: 'EVENT_MISMATCH',
      message: `the event's messageId ${JSON.stringify(detail.messageId.slice(0, 64))} is not the receipt's ${JSON.stringify(claims.messageId)}`,
    });
  }
  const dropped = claims.req.kept === false;
  if (detail.request === null && !dropped && claims.outcome === 'REJECTED') {
    found.push({
      code: 'EVENT_MISMATCH',
      message: 'the event carries no request token, but the receipt does not say it was dropped',
    });
  }
  if (detail.request !== null && dropped) {
    found.push({
      code: 'EVENT_MISMATCH',
      message: 'the event carries a request token the receipt says the gateway did not keep',
    });
  }
  return found;
}

export async function checkRequest(
  verifiers: TokenVerifiers,
  clockSkewSec: number,
  claims: ReceiptClaims,
  detail: ReceiptEventDetail,
): Promise<RequestCheck> {
  const found = eventBinding(claims, detail);
  const { request } = detail;
  const rejected = claims.outcome === 'REJECTED';
  if (request === null) {
    if (!rejected) {
      found.push({
        code: 'REQUEST_INVALID',
        message: `${claims.outcome} receipt carries no request token`,
        verifierCode: 'MISSING',
      });
    }
    return { found, req: null };
  }
  if (sha256B64u(request) !== claims.req.sha256) {
    found.push({
      code: 'REQUEST_HASH_MISMATCH',
      message: 'req.sha256 is not the SHA-256 of the request token in the event',
    });
  }
  // A REJECTED receipt may carry a request that never verified: that is why it was rejected.
  if (rejected) return { found, req: null };
  const at = verificationTime(claims);
  let req: RequestClaims;
  try {
    req = await verifiers.request(request, { audience: claims.iss, at: at.sec * 1000 });
  } catch (err) {
    rethrowUnlessVerificationFailure(err);
    const code = errorCode(err);
    const timing = code === 'EXPIRED' || code === 'NOT_YET_VALID';
    found.push({
      code: timing ? 'OUTSIDE_VALIDITY_WINDOW' : 'REQUEST_INVALID',
      message: timing
        ? `request was ${code === 'EXPIRED' ? 'expired' : 'not yet valid'} at the receipt's ${at.name} ${at.sec}`
        : `request token fails verification as of the receipt's ${at.name}: ${errorMessage(err)}`,
      verifierCode: code,
    });
    return { found, req: null };
  }
  const mismatches: string[] = [];
  if (req.jti !== claims.req.jti) mismatches.push('jti');
  if (req.iss !== claims.req.iss) mismatches.push('iss');
  if (req.sub !== claims.req.sub) mismatches.push('sub');
  if (req.aud !== claims.iss) mismatches.push('aud');
  if (mismatches.length > 0) {
    found.push({
      code: 'REQUEST_MISMATCH',
      message: `receipt and request disagree on ${mismatches.join(', ')}`,
    });
  }
  if (at.sec < req.nbf - clockSkewSec || at.sec > req.exp + clockSkewSec) {
    found.push({
      code: 'OUTSIDE_VALIDITY_WINDOW',
      message: `receipt ${at.name} ${at.sec} outside the request's [nbf ${req.nbf}, exp ${req.exp}] ± ${clockSkewSec}s`,
    });
  }
  return { found, req };
}

/** When the gateway verified the request: `verifiedAt` if the receipt names it, else `iat`. */
function verificationTime(claims: ReceiptClaims): { name: string; sec: number } {
  return claims.verifiedAt === undefined
    ? { name: 'iat', sec: claims.iat }
    : { name: 'verifiedAt', sec: claims.verifiedAt };
}
