// Authorization of a verified request against its requester's policy (DESIGN.md §1 step 5).
// Exact decimal arithmetic only: notional = quantity × limitPrice as strings, never floats.
import {
  canonicalJson,
  compareDecimals,
  multiplyDecimals,
  policyVersion,
} from '@countersign/contracts';
import type { Clock, ReasonCode, RequestClaims, RequesterPolicy } from '@countersign/contracts';

/** What an EXECUTED receipt records about the policy that allowed it. */
export interface PolicyStamp {
  /** base64url sha256 of the canonical JSON of the policy. */
  readonly version: string;
  readonly maxNotional: string;
}

export type AuthorizationResult =
  | { readonly ok: true; readonly policy: PolicyStamp }
  | { readonly ok: false; readonly reason: ReasonCode; readonly detail: string };

export interface Authorizer {
  /** Checks and, when allowed, counts the order against the account's rate window. */
  authorize(claims: Pick<RequestClaims, 'iss' | 'sub' | 'txn'>): AuthorizationResult;
  /** The stamp of the requester's current policy, without counting anything (reconciliation). */
  stamp(issuer: string): PolicyStamp | undefined;
}

export { canonicalJson };

export { policyVersion };

const WINDOW_MS = 60_000;

/**
 * Sliding one-minute window per (requester, account). In-process state: with several gateway
 * processes (or Lambda containers) each enforces the limit on what it sees, so the effective
 * limit is up to N × maxOrdersPerMinute. Documented in the README.
 */
export class SlidingWindowLimiter {
  // Per key: hit times in arrival order, and the index of the first one still in the window.
  // Pruning from the front keeps each hit O(1) amortized, whatever the limit.
  readonly #hits = new Map<string, { times: number[]; start: number }>();
  constructor(private readonly clock: Clock) {}

  /** Records a hit and returns true when under `limit` in the last minute. */
  tryAcquire(key: string, limit: number): boolean {
    const now = this.clock.now();
    let entry = this.#hits.get(key);
    if (!entry) this.#hits.set(key, (entry = { times: [], start: 0 }));
    const { times } = entry;
    while (entry.start < times.length && times[entry.start]! <= now - WINDOW_MS) entry.start++;
    if (entry.start > 1024 && entry.start * 2 > times.length) {
      times.splice(0, entry.start);
      entry.start = 0;
    }
    if (times.length - entry.start >= limit) return false;
    // A clock that steps back must not let old hits linger: keep times non-decreasing.
    times.push(Math.max(now, times[times.length - 1] ?? now));
    return true;
  }
}

export function createAuthorizer(options: {
  readonly policies: readonly RequesterPolicy[];
  readonly clock: Clock;
}): Authorizer {
  const byIssuer = new Map<string, { policy: RequesterPolicy; stamp: PolicyStamp }>();
  for (const policy of options.policies) {
    byIssuer.set(policy.id, {
      policy,
      stamp: { version: policyVersion(policy), maxNotional: policy.maxNotional },
    });
  }
  const limiter = new SlidingWindowLimiter(options.clock);
  const deny = (reason: ReasonCode, detail: string): AuthorizationResult => ({
    ok: false,
    reason,
    detail,
  });

  return {
    authorize({ iss, sub, txn }) {
      const entry = byIssuer.get(iss);
      if (!entry) return deny('NO_POLICY', `no policy for requester ${iss}`);
      const { policy, stamp } = entry;
      if (!policy.accounts.includes(sub)) {
        return deny('ACCOUNT_NOT_ALLOWED', `requester ${iss} may not act for account ${sub}`);
      }
      if (!policy.symbols.includes(txn.symbol)) {
        return deny('SYMBOL_NOT_ALLOWED', `symbol ${txn.symbol} is not allowed`);
      }
      if (!policy.sides.includes(txn.side)) {
        return deny('SIDE_NOT_ALLOWED', `side ${txn.side} is not allowed`);
      }
      const notional = multiplyDecimals(txn.quantity, txn.limitPrice);
      if (compareDecimals(notional, policy.maxNotional) > 0) {
        return deny('NOTIONAL_TOO_HIGH', `notional ${notional} exceeds ${policy.maxNotional}`);
      }
      // Last, so a refused order never consumes the account's budget.
      if (!limiter.tryAcquire(`${iss}#${sub}`, policy.maxOrdersPerMinute)) {
        return deny('RATE_LIMITED', `more than ${policy.maxOrdersPerMinute} orders per minute`);
      }
      return { ok: true, policy: stamp };
    },
    stamp(issuer) {
      return byIssuer.get(issuer)?.stamp;
    },
  };
}
