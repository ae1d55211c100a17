// The request's validity window is checked as of the time the gateway verified it: the receipt's
// `verifiedAt` when it names one (a request receipted later than it was claimed), else its `iat`.
// Real tokens: a synthetic gateway signs the requests and receipts, the audit's verifiers check them.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Clock, ReceiptClaims } from '@countersign/contracts';
import { createAuditor } from './auditor.ts';
import { checkRequest } from './request-check.ts';
import type { EmittedReceipt, SyntheticKit } from './synthetic-gateway.ts';
import { kitVerifiers, START, testKit } from './testing/kit.ts';

const clock: Clock = { now: () => (START + 10_000) * 1000 };
const SKEW = 30;

let kit: SyntheticKit;
beforeAll(async () => {
  kit = await testKit();
});

/**
 * A receipt signed 140 s after its request expired (request window [iat-200, iat-140] ± 30 s),
 * naming `verifiedAt` (seconds before the receipt's iat) when given.
 */
function lateReceipt(verifiedBeforeIat?: number): Promise<EmittedReceipt> {
  return kit.gateway.emit({
    requestExpiresBeforeReceipt: true,
    mutateClaims: (c: ReceiptClaims) =>
      verifiedBeforeIat === undefined ? c : { ...c, verifiedAt: c.iat - verifiedBeforeIat },
  });
}

async function check(e: EmittedReceipt) {
  return checkRequest(kitVerifiers(kit, clock), SKEW, e.claims, e.detail);
}

describe('checkRequest: the validity window as of the verification time', () => {
  it('a receipt signed after its request expired, verified inside the window: no finding', async () => {
    const e = await lateReceipt(150); // verified 10 s after the request's exp, within the skew
    const { found, req } = await check(e);
    expect(found).toEqual([]);
    expect(req?.jti).toBe(e.claims.req.jti);
  });

  it('without verifiedAt the same receipt is outside the window as of its iat', async () => {
    const e = await lateReceipt();
    expect((await check(e)).found).toEqual([
      expect.objectContaining({
        code: 'OUTSIDE_VALIDITY_WINDOW',
        verifierCode: 'EXPIRED',
        message: expect.stringContaining(`iat ${e.claims.iat}`) as unknown,
      }),
    ]);
  });

  it('a verifiedAt itself outside the window (late, or forged) is still OUTSIDE_VALIDITY_WINDOW', async () => {
    for (const before of [100, 0]) {
      const e = await lateReceipt(before); // 40 s (and 140 s) past exp: beyond the skew
      expect((await check(e)).found, `verifiedAt = iat - ${before}`).toEqual([
        expect.objectContaining({
          code: 'OUTSIDE_VALIDITY_WINDOW',
          verifierCode: 'EXPIRED',
          message: expect.stringContaining(`verifiedAt ${e.claims.iat - before}`) as unknown,
        }),
      ]);
    }
    // Before the request's nbf: not yet valid then.
    const early = await lateReceipt(400);
    expect((await check(early)).found).toEqual([
      expect.objectContaining({ code: 'OUTSIDE_VALIDITY_WINDOW', verifierCode: 'NOT_YET_VALID' }),
    ]);
  });
});

describe('the auditor and verifiedAt', () => {
  it('audits a stream with late reconciled receipts clean, and flags a verifiedAt after iat as RECEIPT_INVALID', async () => {
    const k = await testKit();
    const auditor = createAuditor({ verifiers: kitVerifiers(k, clock), clockSkewSec: SKEW, clock });
    const ok = await k.gateway.emit();
    const reconciled = await k.gateway.emit({
      requestExpiresBeforeReceipt: true,
      mutateClaims: (c) => ({ ...c, verifiedAt: c.iat - 150 }),
    });
    const afterIat = await k.gateway.emit({
      mutateClaims: (c) => ({ ...c, verifiedAt: c.iat + 1 }),
    });
    await auditor.ingestMany([ok.detail, reconciled.detail, afterIat.detail]);
    const report = auditor.finish({ kind: 'events', from: null, to: null, gateway: null });
    expect(report.findings.map((f) => [f.code, f.seq])).toEqual([['RECEIPT_INVALID', 3]]);
    expect(report.findings[0]!.message).toContain('verifiedAt');
  });
});
