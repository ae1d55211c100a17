// Shared checks of the gateway integration tests: verify the receipts of a run with the gateway's
// public key, prove each stream's chain (seq 1..n, each prev the hash of the one before), and
// run the audit itself over a run's events.
import { expect } from 'vitest';
import { GENESIS_PREV, receiptChainHash, systemClock, TokenTypes } from '@countersign/contracts';
import type { AuditReport, Clock, ReceiptClaims, ReceiptEventDetail } from '@countersign/contracts';
import { createAuditor, createAuditVerifiers } from '@countersign/audit';
import type { PublicJwk } from '@countersign/signing';
import { createVerifier, staticKeys } from '@countersign/verifier';

export interface VerifiedReceipt {
  readonly token: string;
  readonly claims: ReceiptClaims;
}

/** The distinct receipts of `events`, each verified with the gateway's key. */
export async function verifiedReceipts(
  events: readonly ReceiptEventDetail[],
  gatewayKey: PublicJwk,
  gatewayId: string,
): Promise<VerifiedReceipt[]> {
  const verifier = createVerifier({
    keys: staticKeys({ keys: [gatewayKey] }),
    issuers: [gatewayId],
    audience: null,
    typ: TokenTypes.RECEIPT,
  });
  const out: VerifiedReceipt[] = [];
  for (const token of new Set(events.map((e) => e.receipt)))
    out.push({ token, claims: (await verifier.verify(token)).claims });
  return out;
}

/** Every stream gap-free from seq 1 with an intact prev chain; returns the stream count. */
export function expectChainsIntact(receipts: readonly VerifiedReceipt[]): number {
  const streams = new Map<string, VerifiedReceipt[]>();
  for (const r of receipts)
    streams.set(r.claims.stream, [...(streams.get(r.claims.stream) ?? []), r]);
  for (const list of streams.values()) {
    list.sort((a, b) => a.claims.seq - b.claims.seq);
    list.forEach((r, i) => {
      expect(r.claims.seq).toBe(i + 1);
      expect(r.claims.prev).toBe(i === 0 ? GENESIS_PREV : receiptChainHash(list[i - 1]!.token));
    });
  }
  return streams.size;
}

/** Polls `cond` until it holds, or fails after `timeoutMs` naming `what`. */
export async function until(
  cond: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The audit of `events` (every check, the chains proven from genesis), trusting these keys. */
export async function auditEvents(
  events: readonly ReceiptEventDetail[],
  trust: {
    readonly gatewayId: string;
    readonly gatewayKey: PublicJwk;
    readonly requesterId: string;
    readonly requesterKey: PublicJwk;
    readonly clock?: Clock;
  },
): Promise<AuditReport> {
  const clock = trust.clock ?? systemClock;
  const auditor = createAuditor({
    verifiers: createAuditVerifiers({
      gatewayKeys: staticKeys({ keys: [trust.gatewayKey] }),
      requesterKeys: staticKeys({ keys: [trust.requesterKey] }),
      gateways: [trust.gatewayId],
      requesters: [trust.requesterId],
      clock,
    }),
    clockSkewSec: 30,
    clock,
  });
  await auditor.ingestMany(events);
  return auditor.finish({ kind: 'events', from: null, to: null, gateway: null });
}
