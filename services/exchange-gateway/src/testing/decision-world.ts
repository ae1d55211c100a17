// The world a decision walk runs in (tests only): every answer the nonce store, the exchange,
// the verifier and the policy may give to each step, and the safety rules every step must keep.
import { expect } from 'vitest';
import type { RequestClaims } from '@countersign/contracts';
import type { ClaimResult, NonceRecord, StoredReceipt } from '@countersign/replay-guard';
import type { DeliveryFacts, ResolutionFacts, ResolutionStep, Step } from '../decide.ts';

export const NOW = 1_800_000_000_000;
/** The lease of the walk's contexts, and how long a place() call may still send its order. */
export const LEASE_MS = 5000;
export const PLACE_MARGIN_MS = 2000;
export const MSG = 'm-1';
export const claims = { iss: 'req', jti: 'j'.repeat(22), sub: 'acct' } as RequestClaims;
export const stored = (messageId: string): StoredReceipt => ({
  receipt: 'r.r.r',
  request: 't.t.t',
  messageId,
});
/** When the records of the world were first claimed (an earlier delivery). */
export const FIRST_CLAIM = NOW - 120_000;
export const inProgress = (leaseUntil: number, claimedAt: number | undefined = FIRST_CLAIM) =>
  ({
    key: 'req#j',
    state: 'IN_PROGRESS',
    owner: 'other',
    leaseUntil,
    expiresAt: NOW + 90_000,
    attempts: 1,
    requestSha256: 'h',
    ...(claimedAt === undefined ? {} : { claimedAt }),
  }) as const satisfies NonceRecord;
export const completed = (messageId: string): NonceRecord => ({
  key: 'req#j',
  state: 'COMPLETED',
  expiresAt: NOW + 90_000,
  stored: stored(messageId),
  requestSha256: 'h',
});
export const live = inProgress(NOW + 4000);
export const FILLED = { status: 'FILLED', fills: [{ quantity: '1', price: '2' }] } as const;
export const REFUSED = { status: 'REJECTED', reason: 'NO_FUNDS' } as const;
export const POLICY = { version: 'v'.repeat(43), maxNotional: '10' };

/** Every answer the world may give to a step (the facts it adds). */
export function answers(step: Step, liveLease: NonceRecord = live): Partial<DeliveryFacts>[] {
  const refused = (existing: NonceRecord): ClaimResult => ({ claimed: false, existing });
  switch (step.kind) {
    case 'Verify':
      return [
        { verification: { ok: true, claims } },
        { verification: { ok: false, code: 'EXPIRED' } },
        { verification: { ok: false, code: 'UNKNOWN_KID' } },
      ];
    case 'Lookup':
      if (step.key === 'message') {
        return [
          { messageRecord: null },
          { messageRecord: completed(MSG) },
          { messageRecord: liveLease },
        ];
      }
      return [
        { lookup: { named: false } },
        { lookup: { named: true, claims, record: undefined, sameToken: false } },
        { lookup: { named: true, claims, record: liveLease, sameToken: false } },
        { lookup: { named: true, claims, record: completed(MSG), sameToken: false } },
        { lookup: { named: true, claims, record: liveLease, sameToken: true } },
        { lookup: { named: true, claims, record: inProgress(NOW - 1), sameToken: true } },
        { lookup: { named: true, claims, record: completed(MSG), sameToken: true } },
        { lookup: { named: true, claims, record: completed('m-other'), sameToken: true } },
      ];
    case 'Claim':
      return [
        { claim: { claimed: true, takeover: false }, claimedAt: NOW, leaseUntil: NOW + LEASE_MS },
        // The claim landed, then its gateway froze (SIGSTOP, GC pause): it wakes with its lease
        // shorter than the place deadline.
        {
          claim: { claimed: true, takeover: false },
          claimedAt: NOW - LEASE_MS + 1000,
          leaseUntil: NOW + 1000,
        },
        {
          claim: { claimed: true, takeover: true, previous: inProgress(NOW - 1) },
          claimedAt: FIRST_CLAIM,
          leaseUntil: NOW + LEASE_MS,
        },
        // A record from before claim times were kept.
        {
          claim: { claimed: true, takeover: true, previous: inProgress(NOW - 1, undefined) },
          claimedAt: undefined,
          leaseUntil: NOW + LEASE_MS,
        },
        { claim: refused(liveLease) },
        { claim: refused(completed(MSG)) },
        { claim: refused(completed('m-other')) },
      ];
    case 'Wait':
      return [{ waited: true, claim: undefined, leaseUntil: undefined, order: undefined }];
    case 'Reconcile':
      return [
        { order: { kind: 'found', result: FILLED } },
        { order: { kind: 'found', result: REFUSED } },
        { order: { kind: 'absent' } },
        { order: { kind: 'timeout' } },
      ];
    case 'Authorize':
      return [
        { authorization: { ok: true, policy: POLICY } },
        { authorization: { ok: false, reason: 'RATE_LIMITED', detail: 'too many' } },
      ];
    case 'Place':
      return [
        { placement: { kind: 'done', result: FILLED } },
        { placement: { kind: 'done', result: REFUSED } },
        { placement: { kind: 'timeout' } },
      ];
    case 'ClaimMessageKey':
      return [
        { refusal: step.refusal, messageClaim: { claimed: true, takeover: false } },
        { refusal: step.refusal, messageClaim: refused(completed(MSG)) },
        { refusal: step.refusal, messageClaim: refused(liveLease) },
      ];
    default:
      return []; // terminal
  }
}

export const TERMINAL = new Set<Step['kind']>([
  'Reject',
  'EmitExecution',
  'EmitUnknown',
  'Republish',
  'Leave',
  'GiveBack',
]);

/** The safety rules every step must keep, given the facts it was chosen on. */
export function checkStep(f: DeliveryFacts, step: Step, path: readonly Step['kind'][]): void {
  const holding = f.claim?.claimed === true;
  const verified = f.verification?.ok === true;
  const sameToken = f.lookup?.named === true && f.lookup.sameToken;
  const where = `${path.join(' → ')} → ${step.kind}`;
  if (f.poison) {
    // Poison answers from what is stored; it never verifies, claims or executes.
    expect(['Lookup', 'Republish', 'ClaimMessageKey', 'Reject', 'Leave'], where).toContain(
      step.kind,
    );
  }
  if (step.kind === 'EmitExecution' || step.kind === 'EmitUnknown' || step.kind === 'Reject') {
    // A receipt under the request key names when the request was verified and claimed (the
    // first claim), so an audit checks the request then; one under the message key names none.
    const claimedAt = step.kind === 'Reject' && step.key === 'message' ? undefined : f.claimedAt;
    expect(step.verifiedAt, where).toBe(
      claimedAt === undefined ? undefined : Math.floor(claimedAt / 1000),
    );
  }
  switch (step.kind) {
    case 'Verify':
      expect(f.verification, where).toBeUndefined();
      break;
    case 'Claim':
      expect(holding, where).toBe(false);
      // A request key is claimed only for a token that verified in this delivery, or for the
      // exact bytes a claim was made for earlier: nobody can create or burn someone's nonce.
      expect(verified || sameToken, where).toBe(true);
      break;
    case 'Wait':
      expect(f.receiveCount >= f.maxReceives && f.waited !== true, where).toBe(true);
      expect(step.ms, where).toBeGreaterThan(0);
      break;
    case 'Reconcile':
      expect(holding && f.order === undefined, where).toBe(true);
      break;
    case 'Authorize':
      expect(holding && verified, where).toBe(true);
      break;
    case 'Place':
      // An order is placed only on a token verified in this very delivery, under our claim,
      // authorized, and (after a takeover) only when the exchange does not have it.
      expect(verified && holding && f.authorization?.ok === true, where).toBe(true);
      if (f.claim?.claimed === true && f.claim.takeover)
        expect(f.order?.kind, where).toBe('absent');
      // ... and only while our lease outlasts the call: no taker can reconcile before it lands.
      expect(f.leaseUntil !== undefined && f.now + f.placeMarginMs < f.leaseUntil, where).toBe(
        true,
      );
      break;
    case 'ClaimMessageKey': {
      expect(f.messageClaim, where).toBeUndefined();
      const code = step.refusal.reason;
      if (['EXPIRED', 'UNKNOWN_KID'].includes(code)) {
        // Refused under the message key with its verification code only when no claim was
        // ever made for these bytes.
        expect(sameToken, where).toBe(false);
        expect(f.claim, where).toBeUndefined();
      }
      break;
    }
    case 'Reject':
      if (step.key === 'request') expect(holding, where).toBe(true);
      else expect(f.messageClaim?.claimed, where).toBe(true);
      break;
    case 'EmitExecution':
      expect(holding, where).toBe(true);
      expect([
        f.order?.kind === 'found' ? f.order.result : undefined,
        f.placement?.kind === 'done' ? f.placement.result : undefined,
      ]).toContain(step.result);
      break;
    case 'EmitUnknown':
      expect(holding, where).toBe(true);
      expect(f.placement?.kind === 'timeout' || f.order?.kind === 'timeout', where).toBe(true);
      break;
    case 'Leave':
      expect(step.visibilitySec, where).toBeGreaterThanOrEqual(1);
      // Leaving our own claim: only when it could not place, its lease too short for the call.
      if (step.why === 'LEASE_ENDING') {
        expect(holding && f.authorization?.ok === true && f.placement === undefined, where).toBe(
          true,
        );
      }
      break;
    case 'GiveBack':
      expect(verified && f.order?.kind === 'timeout', where).toBe(true);
      break;
    case 'Republish':
      if (f.poison) expect(step.followUp, where).toBe(false);
      break;
    case 'Lookup':
      break;
  }
}

/** Every answer the world may give to a step resolving an UNKNOWN (under res#). */
export function resolutionAnswers(step: ResolutionStep): Partial<ResolutionFacts>[] {
  switch (step.kind) {
    case 'Claim':
      return [
        { claim: { claimed: true, takeover: false }, leaseUntil: NOW + LEASE_MS },
        // The claim landed, then its resolver froze: it wakes with its lease shorter than the
        // place deadline.
        { claim: { claimed: true, takeover: false }, leaseUntil: NOW + 1000 },
        {
          claim: { claimed: true, takeover: true, previous: inProgress(NOW - 1) },
          leaseUntil: NOW + LEASE_MS,
        },
        { claim: { claimed: false, existing: completed(MSG) } },
        { claim: { claimed: false, existing: live } },
      ];
    case 'Reconcile':
      return [
        { order: { kind: 'found', result: FILLED } },
        { order: { kind: 'absent' } },
        // The lookup answered, then its resolver froze past its lease.
        { order: { kind: 'absent' }, now: NOW + LEASE_MS },
        { order: { kind: 'timeout' } },
      ];
    case 'Verify':
      return [{ verification: { ok: true } }, { verification: { ok: false, code: 'EXPIRED' } }];
    case 'Place':
      return [{ placement: { kind: 'done', result: FILLED } }, { placement: { kind: 'timeout' } }];
    default:
      return []; // terminal
  }
}

/** The safety rules every resolution step must keep, given the facts it was chosen on. */
export function checkResolutionStep(r: ResolutionFacts, step: ResolutionStep, where: string): void {
  const holding = r.claim?.claimed === true;
  switch (step.kind) {
    case 'Place':
      // Placed only under our res# claim, when the exchange does not have the order, on a token
      // that verifies again ...
      expect(holding && r.order?.kind === 'absent' && r.verification?.ok === true, where).toBe(
        true,
      );
      // ... and only while our lease outlasts the call: no taker can reconcile before it lands.
      expect(r.leaseUntil !== undefined && r.now + r.placeMarginMs < r.leaseUntil, where).toBe(
        true,
      );
      break;
    case 'RejectFollowUp':
      // "Never placed": only what the exchange said, under our claim.
      expect(holding && r.order?.kind === 'absent', where).toBe(true);
      break;
    case 'EmitFollowUp':
      expect(holding, where).toBe(true);
      break;
    case 'Pending':
      // Giving up our own claim unplaced: only when its lease is too short for the call.
      if (step.why === 'LEASE_ENDING') {
        expect(holding && r.verification?.ok === true && r.placement === undefined, where).toBe(
          true,
        );
      }
      break;
    default:
      break;
  }
}
