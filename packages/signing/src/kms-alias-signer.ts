// A KMS signer that follows an alias. Asymmetric KMS keys never rotate their material, so a
// rotation moves the alias to a new key (infra/README.md, "Rotating keys"); a signer that read
// the alias once would sign with the old key until restarted, and once verifiers retire that key
// every order is refused. This one re-reads the alias every minute (GetPublicKey, as verifiers
// do) and signs with the new target once it has seen it for KEY_REREAD_MIN_INTERVAL_MS:
//
//   alias moves ──▶ next re-read sees it (≤ 1 min) ──▶ still the old key for 1 min ──▶ new key
//
// The wait is a margin, not what keeps orders from being refused: a verifier that has not read
// the new target yet holds a new-key token until its next unknown-kid re-read (at most 5 s) and
// verifies it then (key-cache.ts). The old key signs for at most two minutes after the move,
// well inside the time verifiers keep trusting a previous alias target
// (DEFAULT_PREVIOUS_KEY_TRUST_SEC). The kid in each header and the key KMS signs with
// always match (signJwt takes `current()` once per token).
//
// Re-reads run in the background when a token is signed after the interval; signing never waits
// for one. A failed re-read, or a new target that cannot sign `alg`, keeps the current key and
// is reported; the next interval tries again.
import {
  isKmsAlias,
  KEY_REREAD_MIN_INTERVAL_MS,
  systemClock,
  type Clock,
} from '@countersign/contracts';
import { createKmsSigner, type KmsSigner, type KmsSignerOptions } from './kms-signer.ts';
import type { RotatingSigner } from './signer.ts';

export interface KmsAliasSignerOptions extends KmsSignerOptions {
  /** Re-read the alias after this long (default 1 min). */
  readonly refreshMs?: number;
  /** Sign with a new target this long after first seeing it (default 1 min; see above). */
  readonly switchDelayMs?: number;
  /** Wall clock of the schedule (default: the system clock). */
  readonly wallClock?: Clock;
  /** The alias moved: tokens signed from now on name `to`'s kid. */
  readonly onMove?: (from: KmsSigner, to: KmsSigner) => void;
  /** A re-read failed or found a target that cannot sign `alg`: the current key signs on. */
  readonly onRefreshError?: (err: unknown) => void;
}

export interface KmsAliasSigner extends KmsSigner, RotatingSigner {
  current(): KmsSigner;
  /** Re-reads the alias now; true when it names another key than the one signing. */
  refresh(): Promise<boolean>;
}

/**
 * A KMS signer for `keyId`; for an alias, one that follows it (KmsAliasSigner). Fails fast like
 * createKmsSigner when the key cannot sign `alg` at start.
 */
export async function createKmsAliasSigner(
  options: KmsAliasSignerOptions,
): Promise<KmsSigner | KmsAliasSigner> {
  const first = await createKmsSigner(options);
  if (!isKmsAlias(options.keyId)) return first;
  const clock = options.wallClock ?? systemClock;
  const refreshMs = options.refreshMs ?? KEY_REREAD_MIN_INTERVAL_MS;
  const switchDelayMs = options.switchDelayMs ?? KEY_REREAD_MIN_INTERVAL_MS;
  let active = first;
  /** The alias's new target, and when it was first seen. */
  let pending: { readonly signer: KmsSigner; readonly seenAt: number } | undefined;
  let readAt = clock.now();
  let reading: Promise<boolean> | undefined;

  const read = async (): Promise<boolean> => {
    try {
      const next = await createKmsSigner(options);
      if (next.resolvedKeyId === active.resolvedKeyId)
        pending = undefined; // (moved back)
      else if (next.resolvedKeyId !== pending?.signer.resolvedKeyId) {
        pending = { signer: next, seenAt: clock.now() };
      }
      return pending !== undefined;
    } catch (err) {
      options.onRefreshError?.(err);
      return pending !== undefined;
    } finally {
      readAt = clock.now();
      reading = undefined;
    }
  };
  const refresh = () => (reading ??= read());
  const current = (): KmsSigner => {
    const now = clock.now();
    if (pending && now - pending.seenAt >= switchDelayMs) {
      const from = active;
      active = pending.signer;
      pending = undefined;
      options.onMove?.(from, active);
    }
    if (reading === undefined && now - readAt >= refreshMs) void refresh();
    return active;
  };

  return {
    get alg() {
      return active.alg;
    },
    get kid() {
      return active.kid;
    },
    get publicJwk() {
      return active.publicJwk;
    },
    get resolvedKeyId() {
      return active.resolvedKeyId;
    },
    keyId: options.keyId,
    sign: (input) => current().sign(input),
    metrics: () => active.metrics(),
    current,
    refresh,
  };
}
