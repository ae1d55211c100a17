// Builds the auditor's TokenVerifiers from trusted keys with @countersign/verifier: receipts and
// checkpoints with the gateways' keys, requests with the requesters' keys and `aud` = the
// receipt's gateway (one verifier per gateway, created on first use).
import { TokenTypes, systemClock, type Clock, type RequestClaims } from '@countersign/contracts';
import { createVerifier, type KeyResolver, type Verifier } from '@countersign/verifier';
import type { TokenVerifiers } from './ports.ts';

export interface AuditVerifierOptions {
  readonly gatewayKeys: KeyResolver;
  readonly requesterKeys: KeyResolver;
  /** Trusted gateway ids (receipt and checkpoint `iss`). */
  readonly gateways: readonly string[];
  /** Trusted requester ids; `null` = any requester whose key is trusted (keys may bind an issuer). */
  readonly requesters: readonly string[] | null;
  readonly clockSkewSec?: number;
  readonly clock?: Clock;
}

// The gateway refuses requests over its own limit before signing a receipt; audit re-verifies
// whatever an event may carry (ReceiptEventDetail bounds: 16 KB receipts, 64 KB requests).
const MAX_RECEIPT_BYTES = 16_384;
const MAX_REQUEST_BYTES = 65_536;

export function createAuditVerifiers(options: AuditVerifierOptions): TokenVerifiers {
  const clock = options.clock ?? systemClock;
  const skew = options.clockSkewSec ?? 30;
  const receipts = createVerifier({
    keys: options.gatewayKeys,
    issuers: options.gateways,
    audience: null,
    typ: TokenTypes.RECEIPT,
    clockSkewSec: skew,
    maxTokenBytes: MAX_RECEIPT_BYTES,
    clock,
  });
  const checkpoints = createVerifier({
    keys: options.gatewayKeys,
    issuers: options.gateways,
    audience: null,
    typ: TokenTypes.CHECKPOINT,
    clockSkewSec: skew,
    maxTokenBytes: MAX_RECEIPT_BYTES,
    clock,
  });
  const requests = new Map<string, Verifier<RequestClaims>>();
  const requestVerifier = (audience: string): Verifier<RequestClaims> => {
    let v = requests.get(audience);
    if (!v) {
      v = createVerifier({
        keys: options.requesterKeys,
        issuers: options.requesters,
        audience,
        typ: TokenTypes.REQUEST,
        clockSkewSec: skew,
        maxTokenBytes: MAX_REQUEST_BYTES,
        clock,
      });
      requests.set(audience, v);
    }
    return v;
  };
  return {
    receipt: async (token) => {
      const { claims, batch } = await receipts.verify(token);
      return batch && 'seq' in batch.head ? { claims, batchSeq: batch.head.seq } : { claims };
    },
    checkpoint: async (token) => (await checkpoints.verify(token)).claims,
    request: async (token, { audience, at }) =>
      (await requestVerifier(audience).verify(token, { at })).claims,
  };
}
