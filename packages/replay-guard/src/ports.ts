// The NonceStore port: the single source of truth for "has this request been handled".
//
//   claim(key)            complete(key, receipt)                      expiresAt (TTL)
//  ────●──── IN_PROGRESS ─────●──── COMPLETED (receipt stored) ─────────●── gone
//       lease ──────▶│
//                    └ lease expired: a new claimer takes over, but must first reconcile
//                      with the exchange by client order id (clientOrderIdOf(iss, jti)).
//
// A redelivery that finds COMPLETED re-publishes the stored receipt; one that finds
// IN_PROGRESS with a live lease leaves the message for later.
//
//   worker A                      worker B                         store
//   claim(k) ──────────────────────────────────────────────▶ IN_PROGRESS owner=A attempts=1
//   (crashes, lease runs out: leaseUntil <= now)                     requestSha256=h(token)
//                                 claim(k) ───────────────▶ takeover: owner=B attempts=2,
//                                 reconcile by client order id,     previous = A's record
//                                 then execute                      (requestSha256 kept)
//   complete(k) ✗ NONCE_CONFLICT  complete(k, head seq n) ──▶ COMPLETED + head n, one write
//                                 (head not at n-1 ✗ CHAIN_CONFLICT, nothing written)
//   anyone: claim(k) ─────────────────────────────────────▶ { claimed: false, existing: COMPLETED }
//
// `requestSha256` (the SHA-256 of the exact request token a claim was made for) and `claimedAt`
// (when that first claim was made) stay with the record from the first claim to its expiry. A claim happens only after the token verified, so
// a later delivery of the same bytes that no longer verifies (it expired during an outage, its
// key was removed) is still known to be this claimed request: its fate is then decided by the
// record and the exchange, never by re-checking its expiry.
//
// A key that was never claimed (a rejected message keyed `msg#<messageId>`) is completed
// directly. Records past expiresAt but not yet deleted answer as they are (COMPLETED keeps
// refusing: its token is dead anyway).

export interface StoredReceipt {
  /** The receipt JWS. */
  readonly receipt: string;
  /** The request token that travels beside it (null when it could not be kept). */
  readonly request: string | null;
  readonly messageId: string;
}

export type NonceRecord =
  | {
      readonly key: string;
      readonly state: 'IN_PROGRESS';
      readonly owner: string;
      readonly leaseUntil: number;
      readonly expiresAt: number;
      /** How many times the key was claimed (1 = first). */
      readonly attempts: number;
      /** SHA-256 (base64url) of the request token the first claim was made for, if given. */
      readonly requestSha256?: string;
      /** Epoch ms of the first claim (kept by takeovers); absent in records older than it. */
      readonly claimedAt?: number;
    }
  | {
      readonly key: string;
      readonly state: 'COMPLETED';
      readonly expiresAt: number;
      readonly stored: StoredReceipt;
      /** Kept from the claim (absent for keys completed directly, e.g. `msg#…`). */
      readonly requestSha256?: string;
      /** Kept from the first claim (absent for keys completed directly). */
      readonly claimedAt?: number;
    };

export type ClaimResult =
  | { readonly claimed: true; readonly takeover: false }
  /** The previous holder's lease expired: reconcile before executing. */
  | {
      readonly claimed: true;
      readonly takeover: true;
      readonly previous: NonceRecord & { state: 'IN_PROGRESS' };
    }
  | { readonly claimed: false; readonly existing: NonceRecord };

export interface ClaimOptions {
  /** Epoch ms after which the record may be dropped (exp + skew). */
  readonly expiresAt: number;
  readonly leaseMs: number;
  /** Who claims (worker id); used to check completes. */
  readonly owner: string;
  /** Epoch ms now (injected clock); a first claim records it as `claimedAt`. */
  readonly now: number;
  /**
   * SHA-256 (base64url) of the verified request token this claim is for. Stored by the first
   * claim of the key; a takeover keeps the stored one.
   */
  readonly requestSha256?: string;
}

/** Head of a receipt stream: last seq and the sha256 (base64url) of its receipt token. */
export interface ChainHead {
  readonly stream: string;
  readonly seq: number;
  readonly hash: string;
}

export interface RestoredRecord {
  readonly stored: StoredReceipt;
  readonly expiresAt: number;
  /** SHA-256 (base64url) of `stored.request`, when it names a request. */
  readonly requestSha256?: string;
}

export interface CompleteOptions {
  readonly owner: string;
  readonly stored: StoredReceipt;
  /** Advance this stream's head from `seq - 1` to `seq` in the same atomic write. */
  readonly head: ChainHead;
  /**
   * The hash of the head the receipt was signed on (its `prev`): the head advances only from
   * exactly (`head.seq - 1`, `prev`), so a receipt signed on a head that was never stored fails.
   */
  readonly prev: string;
  /** Keep the record until then (may extend the claim's expiresAt). */
  readonly expiresAt: number;
}

export interface NonceStore {
  claim(key: string, options: ClaimOptions): Promise<ClaimResult>;
  /**
   * Stores the receipt (COMPLETED) and advances the chain head atomically. Throws a
   * CountersignError CHAIN_CONFLICT when the head is not (`head.seq - 1`, `prev`), and NONCE_CONFLICT
   * when the key is not IN_PROGRESS for this owner (unless it is a fresh key: rejected messages
   * that never claimed are completed directly).
   */
  complete(key: string, options: CompleteOptions): Promise<void>;
  get(key: string): Promise<NonceRecord | undefined>;
  /** Current head of a stream; seq 0 and the genesis hash when empty. */
  head(stream: string): Promise<ChainHead>;
  /**
   * True when writes are applied in call order (one process's group commit on SQLite): the
   * chain writer may then sign the next receipt of a stream before the previous complete has
   * committed. Unordered stores (DynamoDB requests race on the network) leave it unset.
   */
  readonly ordered?: boolean;
  /**
   * Recovery only (`countersign gateway recover-head`): moves a stream's head forward to `head`
   * after the store lost it. Throws CHAIN_CONFLICT unless the stored head is behind `head.seq`.
   */
  restoreHead?(head: ChainHead): Promise<void>;
  /**
   * Recovery only: stores a COMPLETED record rebuilt from an archived, verified receipt, so a
   * redelivery republishes it instead of executing again. Never overwrites a COMPLETED record:
   * false when the key already has one. An IN_PROGRESS claim is replaced: the archived receipt
   * proves the key completed, and a claim left behind would be taken over and reconciled again.
   */
  restoreCompleted?(key: string, record: RestoredRecord): Promise<boolean>;
  close?(): Promise<void>;
}
