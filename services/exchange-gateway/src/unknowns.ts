// The follow-up of an UNKNOWN receipt (the exchange timed out): performs decideResolution's steps
// under the key res#<unknown receipt jti>, for the UNKNOWNs this process emitted or found on a
// redelivery. The periodic pass (`reconcile`) and a redelivery both come here.
import { NonceKeys } from '@countersign/contracts';
import type { Clock, ReceiptClaims, RequestClaims } from '@countersign/contracts';
import type { ClaimResult } from '@countersign/replay-guard';
import {
  decideResolution,
  type ResolutionFacts,
  type ResolutionStep,
  type Verification,
} from './decide.ts';
import type { ReceiptEmitter } from './emitter.ts';
import type { ExchangeCalls } from './exchange-calls.ts';
import type { ProcessResult } from './pipeline.ts';
import type { Authorizer } from './policy.ts';
import type { Logger } from './ports.ts';
import { draftFromExecution, type ReceiptDraft } from './receipts.ts';

/** An UNKNOWN receipt waiting for its follow-up. */
export interface PendingUnknown {
  readonly unknown: ReceiptClaims;
  /** The request's claims: verified, or unverified bytes matched by their claimed hash. */
  readonly claims: RequestClaims;
  readonly request: string | null;
}

export interface Unknowns {
  add(entry: PendingUnknown): void;
  /** Resolves one now if it can (undefined: not yet); `known` are facts the caller has. */
  resolve(entry: PendingUnknown, known?: ResolutionKnown): Promise<ProcessResult | undefined>;
  /** One pass over every pending UNKNOWN; returns how many were resolved. */
  reconcile(): Promise<number>;
  size(): number;
}

/** What a caller may already know when it asks to resolve (a delivery's own verification). */
export type ResolutionKnown = Pick<ResolutionFacts, 'verification'>;

export function createUnknowns(o: {
  /** `now`: the claim's time; the store sets the lease to now + leaseMs. */
  readonly claim: (key: string, expiresAt: number, now: number) => Promise<ClaimResult>;
  readonly clock: Clock;
  readonly leaseMs: number;
  /** How long a place() call may still send the order (placeDeadlineOf). */
  readonly placeMarginMs: number;
  /** Epoch ms to keep a record until (the receipt retention). */
  readonly keepUntil: () => number;
  readonly exchange: ExchangeCalls;
  readonly emitter: ReceiptEmitter;
  readonly authorizer: Authorizer;
  /** Verifies a request token now (before a follow-up may place its order). */
  readonly verify: (token: string) => Promise<Verification>;
  readonly logger: Logger;
}): Unknowns {
  const pending = new Map<string, PendingUnknown>();

  /**
   * The follow-up receipt: what the exchange did, or REJECTED with the verification code. It is
   * about the request the UNKNOWN answered, so it names when that one was verified.
   */
  function followUp(
    u: PendingUnknown,
    step: Extract<ResolutionStep, { kind: 'EmitFollowUp' | 'RejectFollowUp' }>,
  ): ReceiptDraft {
    const base = {
      req: u.unknown.req,
      messageId: u.unknown.messageId,
      verifiedAt: u.unknown.verifiedAt ?? u.unknown.iat,
    };
    if (step.kind === 'EmitFollowUp') {
      const policy = u.unknown.policy ?? o.authorizer.stamp(u.claims.iss);
      return draftFromExecution(base, step.result, policy, u.unknown.jti);
    }
    return {
      ...base,
      outcome: 'REJECTED',
      reason: step.reason,
      fills: [],
      resolves: u.unknown.jti,
    };
  }

  async function resolve(
    u: PendingUnknown,
    known: ResolutionKnown = {},
  ): Promise<ProcessResult | undefined> {
    const key = NonceKeys.resolution(u.unknown.jti);
    let r: ResolutionFacts = { ...known, now: o.clock.now(), placeMarginMs: o.placeMarginMs };
    for (;;) {
      r = { ...r, now: o.clock.now() };
      const step = decideResolution(r);
      switch (step.kind) {
        case 'Claim': {
          const claim = await o.claim(key, o.keepUntil(), r.now);
          // The store set our lease from the same inputs: no read needed (nothing extends it).
          r = { ...r, claim, leaseUntil: claim.claimed ? r.now + o.leaseMs : undefined };
          break;
        }
        case 'Republish':
          pending.delete(u.unknown.jti);
          return o.emitter.republish(step.stored);
        case 'Pending':
          if (step.why === 'LEASE_ENDING') {
            o.logger.warn(
              { receiptId: u.unknown.jti, leaseUntil: r.leaseUntil },
              'res# lease ends before place() could: not placed, left for the next pass',
            );
          }
          return undefined;
        case 'Reconcile':
          r = { ...r, order: await o.exchange.lookup(u.claims) };
          break;
        case 'Verify': {
          const v: Verification = u.request
            ? await o.verify(u.request)
            : { ok: false, code: 'MALFORMED' };
          r = { ...r, verification: v.ok ? { ok: true } : v };
          break;
        }
        case 'Place':
          r = { ...r, placement: await o.exchange.place(u.claims) };
          break;
        case 'EmitFollowUp':
        case 'RejectFollowUp': {
          const draft = followUp(u, step);
          const done = await o.emitter.emit(key, u.unknown.stream, draft, u.request, o.keepUntil());
          pending.delete(u.unknown.jti);
          return done;
        }
      }
    }
  }

  return {
    add: (entry) => void pending.set(entry.unknown.jti, entry),
    resolve,
    async reconcile() {
      let resolved = 0;
      for (const entry of [...pending.values()]) {
        try {
          if (await resolve(entry)) resolved += 1;
        } catch (err) {
          o.logger.warn({ receiptId: entry.unknown.jti, err }, 'reconciliation failed');
        }
      }
      return resolved;
    },
    size: () => pending.size,
  };
}
