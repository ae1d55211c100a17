// The key set a verifier trusts for one party (a requester policy's `keys`, `requester.publicKeys`,
// `gateway.publicKeys`): any mix of KMS keys (key id, key ARN, alias name or alias ARN), JWKS
// files and HTTPS JWKS URLs, each key with an optional validity window (issue 18).
//
//   "alias/countersign/requester"                          a KMS key or alias, as a string
//   { "kms": "arn:…:key/…", "exp": "2026-05-01T12:00:00Z" } a KMS key retired at that time
//   { "jwksFile": ".countersign/keys/requester.jwks.json" } keys may carry nbf/exp members
//   { "jwksUrl": "https://bot.example/.well-known/jwks.json" }
//   { "jwks": { "keys": [ … ] } }                          inline
//
// Validity is checked against the token's own `iat` (the verifier's step "key valid when
// signed"): a retired key still verifies what it signed before its retirement (audit), and a
// token it signed after is refused with KEY_RETIRED.
import { z } from 'zod';
import { AlgorithmSchema, MAX_LIFETIME_SEC } from './claims.ts';
import { isHttpsOrLoopback } from './secure-url.ts';

/** Epoch seconds, from a number or an ISO 8601 date-time with an offset (`…Z`). */
export const KeyTime = z.union(
  [
    z.number().int().nonnegative().max(253402300799),
    z.iso.datetime({ offset: true }).transform((s) => Math.floor(Date.parse(s) / 1000)),
  ],
  { error: 'must be epoch seconds or an ISO 8601 date-time such as 2026-05-01T12:00:00Z' },
);

function intIn(min: number, max: number) {
  const message = `must be a whole number between ${min} and ${max}`;
  return z.number({ error: message }).int(message).min(min, message).max(max, message);
}

/** Default time a previous alias target stays trusted (for what it signed) after the alias moved. */
export const DEFAULT_PREVIOUS_KEY_TRUST_SEC = MAX_LIFETIME_SEC + 30;

/**
 * A signer that follows a KMS alias re-reads it this often, and moves to a new target only this
 * long after it saw the move (verifiers that read the alias in between already trust it).
 */
export const KEY_REREAD_MIN_INTERVAL_MS = 60_000;

/**
 * A verifier reads a KMS alias or JWKS URL again for an unknown kid at most this often (default).
 * A token signed after its last read waits for the next one (at most this long) rather than
 * being refused: a key that appeared since is then trusted.
 */
export const UNKNOWN_KID_REREAD_MS = 5_000;

const validity = {
  /** The key verifies tokens signed (iat) from this time on (skew allowed). */
  nbf: KeyTime.optional(),
  /** Retirement: tokens signed (iat) at or after this time are refused (KEY_RETIRED). */
  exp: KeyTime.optional(),
};

export const KmsKeySource = z
  .strictObject({
    /** Key id, key ARN, alias name (`alias/…`) or alias ARN. */
    kms: z.string().min(1).max(2048),
    /** RSA keys verify RS256 unless this says PS256; EC keys go by their curve. */
    alg: AlgorithmSchema.optional(),
    ...validity,
    /** Re-read every N seconds (default: 300 for an alias, 3600 for a key). */
    refreshSec: intIn(1, 86_400).optional(),
    /**
     * Alias only: re-read for an unknown kid at most once per N seconds (default 5, or
     * `refreshSec` when shorter). A token signed after the last read waits up to this long for
     * the next one instead of being refused, so keep it short.
     */
    minRefreshSec: intIn(1, 3600).optional(),
    /**
     * Alias only: after the alias moved, the previous target keeps verifying tokens signed up to
     * N seconds after this process saw the move (default 330: max token lifetime + skew).
     */
    previousKeyTrustSec: intIn(0, 30 * 86_400).optional(),
  })
  .refine((s) => s.nbf === undefined || s.exp === undefined || s.nbf < s.exp, {
    message: 'nbf must be before exp',
    path: ['exp'],
  });
export type KmsKeySource = z.infer<typeof KmsKeySource>;

export const JwksFileSource = z.strictObject({ jwksFile: z.string().min(1) });
export type JwksFileSource = z.infer<typeof JwksFileSource>;

export const JwksUrlSource = z.strictObject({
  jwksUrl: z
    .string()
    .url()
    .refine(isHttpsOrLoopback, 'must be https:// (plain http:// only to a loopback host)'),
  /** Fresh for N seconds, then refreshed in the background (default 300). */
  ttlSec: intIn(1, 86_400).optional(),
  /**
   * At most one fetch per N seconds, for unknown kids and after failures (default 5); a token
   * signed after the last fetch waits up to this long for the next one instead of being refused.
   */
  minRefreshSec: intIn(1, 3600).optional(),
  /** One fetch, headers and body (default 5000). */
  timeoutMs: intIn(100, 60_000).optional(),
  /** Largest accepted body (default 65536). */
  maxBytes: intIn(1024, 1_048_576).optional(),
});
export type JwksUrlSource = z.infer<typeof JwksUrlSource>;

export const InlineJwksSource = z.strictObject({
  jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }),
});
export type InlineJwksSource = z.infer<typeof InlineJwksSource>;

export type KeySource = KmsKeySource | JwksFileSource | JwksUrlSource | InlineJwksSource;

const KINDS = {
  kms: KmsKeySource,
  jwksFile: JwksFileSource,
  jwksUrl: JwksUrlSource,
  jwks: InlineJwksSource,
} as const;
const KIND_NAMES = Object.keys(KINDS) as (keyof typeof KINDS)[];

/** One source: a string (KMS key or alias) or an object with exactly one of the kind members. */
export const KeySource: z.ZodType<KeySource, unknown> = z.unknown().transform((raw, ctx) => {
  const value = typeof raw === 'string' ? { kms: raw } : raw;
  const kinds =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? KIND_NAMES.filter((k) => Object.hasOwn(value, k))
      : [];
  const kind = kinds[0];
  if (kind === undefined || kinds.length > 1) {
    ctx.addIssue({
      code: 'custom',
      message: `must be a KMS key id, ARN or alias, or an object with exactly one of ${KIND_NAMES.join(', ')}`,
    });
    return z.NEVER;
  }
  const res = KINDS[kind].safeParse(value);
  if (!res.success) {
    for (const issue of res.error.issues) {
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    }
    return z.NEVER;
  }
  return res.data;
});

export const KeySet = z.array(KeySource).min(1, 'must name at least one key source');
export type KeySet = readonly KeySource[];

const ALIAS = /^(alias\/|arn:[^:]+:kms:[^:]*:[^:]*:alias\/)/;

/** A KMS alias (name or ARN) rather than a key: it can move, so it is re-resolved. */
export function isKmsAlias(keyId: string): boolean {
  return ALIAS.test(keyId);
}
