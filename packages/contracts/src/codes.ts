// The closed list of error and reason codes. One literal union shared by all packages, so
// callers `switch (err.code)` and TypeScript narrows. Constants, not enums.

/** Failures of token verification, in the order the verifier checks them. */
export const VerificationCodes = {
  TOKEN_TOO_LARGE: 'TOKEN_TOO_LARGE',
  MALFORMED: 'MALFORMED',
  UNSUPPORTED_HEADER: 'UNSUPPORTED_HEADER',
  ALG_NOT_ALLOWED: 'ALG_NOT_ALLOWED',
  TYP_MISMATCH: 'TYP_MISMATCH',
  UNKNOWN_KID: 'UNKNOWN_KID',
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  CLAIMS_INVALID: 'CLAIMS_INVALID',
  ISSUER_NOT_TRUSTED: 'ISSUER_NOT_TRUSTED',
  AUDIENCE_MISMATCH: 'AUDIENCE_MISMATCH',
  /** Signed (iat) at or after the retirement (`exp`) its key has in the trust configuration. */
  KEY_RETIRED: 'KEY_RETIRED',
  NOT_YET_VALID: 'NOT_YET_VALID',
  EXPIRED: 'EXPIRED',
  LIFETIME_TOO_LONG: 'LIFETIME_TOO_LONG',
  // Batch items (batch.ts), checked after the head's own signature and before the item's claims.
  /** The item is not in canonical JSON: it would re-encode (and hash) differently. */
  BATCH_LEAF_NONCANONICAL: 'BATCH_LEAF_NONCANONICAL',
  /** `index` is not a leaf of the head's tree (negative, not an integer, ≥ size). */
  BATCH_INDEX_OUT_OF_RANGE: 'BATCH_INDEX_OUT_OF_RANGE',
  /** `path` has the wrong number of hashes for (index, size), or a hash is not 32 bytes. */
  BATCH_PROOF_LENGTH: 'BATCH_PROOF_LENGTH',
  /** The proof does not lead to the signed root: not the item signed (incl. a node as a leaf). */
  BATCH_ROOT_MISMATCH: 'BATCH_ROOT_MISMATCH',
  /** The head is another issuer's, or disagrees with the item (stream, seq, chain head). */
  BATCH_HEAD_MISMATCH: 'BATCH_HEAD_MISMATCH',
  /** The item says it was issued (iat) after the head that signs it: a head signs what exists. */
  BATCH_ITEM_AFTER_HEAD: 'BATCH_ITEM_AFTER_HEAD',
} as const;
export type VerificationCode = (typeof VerificationCodes)[keyof typeof VerificationCodes];

/** Why the gateway refused to execute (the `reason` of a REJECTED receipt) or could not. */
export const ReasonCodes = {
  ...VerificationCodes,
  REPLAYED: 'REPLAYED',
  ACCOUNT_NOT_ALLOWED: 'ACCOUNT_NOT_ALLOWED',
  SYMBOL_NOT_ALLOWED: 'SYMBOL_NOT_ALLOWED',
  SIDE_NOT_ALLOWED: 'SIDE_NOT_ALLOWED',
  NOTIONAL_TOO_HIGH: 'NOTIONAL_TOO_HIGH',
  RATE_LIMITED: 'RATE_LIMITED',
  NO_POLICY: 'NO_POLICY',
  POISON_MESSAGE: 'POISON_MESSAGE',
  EXCHANGE_REJECTED: 'EXCHANGE_REJECTED',
  EXCHANGE_TIMEOUT: 'EXCHANGE_TIMEOUT',
} as const;
export type ReasonCode = (typeof ReasonCodes)[keyof typeof ReasonCodes];

/** Everything else a countersign component can fail with. */
export const ErrorCodes = {
  ...ReasonCodes,
  REQUEST_INVALID: 'REQUEST_INVALID',
  CONFIG_INVALID: 'CONFIG_INVALID',
  DER_INVALID: 'DER_INVALID',
  KEY_MISMATCH: 'KEY_MISMATCH',
  KEY_UNAVAILABLE: 'KEY_UNAVAILABLE',
  /** A key set loaded after start offers a kid another requester (or another key) holds: refused. */
  KID_CONFLICT: 'KID_CONFLICT',
  /** A key file already exists: generation never overwrites. */
  KEY_EXISTS: 'KEY_EXISTS',
  /** Sealed exchange credentials are malformed, sealed for another context, or do not decrypt. */
  CREDENTIALS_INVALID: 'CREDENTIALS_INVALID',
  /** The exchange answered something unusable (auth refused, malformed or mismatched order). */
  EXCHANGE_FAILED: 'EXCHANGE_FAILED',
  /** An EventBridge archive replay failed or was cancelled (audit replay). */
  REPLAY_FAILED: 'REPLAY_FAILED',
  SIGNING_FAILED: 'SIGNING_FAILED',
  QUEUE_FAILED: 'QUEUE_FAILED',
  BUS_FAILED: 'BUS_FAILED',
  NONCE_CONFLICT: 'NONCE_CONFLICT',
  STORE_FAILED: 'STORE_FAILED',
  CHAIN_CONFLICT: 'CHAIN_CONFLICT',
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  FORBIDDEN: 'FORBIDDEN',
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The gateway's chain head disagrees with its newest signed checkpoint (it refuses to start). */
  CHAIN_HEAD_MISMATCH: 'CHAIN_HEAD_MISMATCH',
  /** The audit's remembered state fails its integrity check (edited or corrupted). */
  STATE_INVALID: 'STATE_INVALID',
  /** A role of the embedded data directory (e.g. the gateway) is held by another live process. */
  LOCKED: 'LOCKED',
  /** A bug in countersign: an internal invariant broke or an API was called out of order. */
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export const Outcomes = {
  EXECUTED: 'EXECUTED',
  REJECTED: 'REJECTED',
  FAILED: 'FAILED',
  UNKNOWN: 'UNKNOWN',
} as const;
export type Outcome = (typeof Outcomes)[keyof typeof Outcomes];
