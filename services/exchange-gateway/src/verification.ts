// Request verification for the pipeline, with prefetch: a received batch is verified up front
// (on the thread pool, in parallel), so a message waiting behind earlier ones of its FIFO group
// is verified by the time its turn comes. A prefetched result belongs to one delivery (its
// receipt handle) and is used only while fresh.
import type { Clock, RequestClaims } from '@countersign/contracts';
import type { ReceivedMessage } from '@countersign/transport';
import { inTrace, noopMetrics, type Metrics } from '@countersign/observability';
import type { Verification } from './decide.ts';
import { verificationCodeOf } from './errors.ts';

/** What the pipeline needs from a verifier: verified request claims, or a VerificationError. */
export interface RequestVerifier {
  verify(token: string): Promise<{ readonly claims: RequestClaims }>;
}

/** A prefetched verification older than this is done again (the clock moved on). */
export const PREFETCH_FRESH_MS = 1000;

export interface Verifications {
  /** Verifies `token` now. Rejects only with an error that is not a verification failure. */
  now(token: string): Promise<Verification>;
  /** The prefetched verification of this delivery if fresh, else a new one. */
  of(message: ReceivedMessage): Promise<Verification>;
  prefetch(messages: readonly ReceivedMessage[]): void;
}

export function createVerifications(
  verifier: RequestVerifier,
  clock: Clock,
  maxTokenBytes: number,
  metrics: Metrics = noopMetrics,
): Verifications {
  // Prefetched verifications by receipt handle (one delivery), oldest first.
  const prefetched = new Map<
    string,
    { readonly at: number; readonly result: Promise<Verification> }
  >();

  const settle = (err: unknown): Verification => {
    const code = verificationCodeOf(err);
    if (!code) throw err; // not about the token: the delivery is retried
    return { ok: false, code };
  };
  const now = (token: string): Promise<Verification> => {
    try {
      return verifier
        .verify(token)
        .then((v): Verification => ({ ok: true, claims: v.claims }), settle);
    } catch (err) {
      // A verifier that throws instead of rejecting.
      return new Promise((resolve) => resolve(settle(err)));
    }
  };

  return {
    now,
    of(message) {
      const early = prefetched.get(message.receiptHandle);
      prefetched.delete(message.receiptHandle);
      if (early && clock.now() - early.at <= PREFETCH_FRESH_MS) {
        metrics.count('verify_cache_total', { result: 'hit' });
        return early.result;
      }
      metrics.count('verify_cache_total', { result: 'miss' });
      return now(message.body);
    },
    prefetch(messages) {
      const at = clock.now();
      // Forget what was never processed (the rest of a group that failed, say).
      for (const [handle, entry] of prefetched) {
        if (at - entry.at <= PREFETCH_FRESH_MS) break;
        prefetched.delete(handle);
      }
      for (const m of messages) {
        if (Buffer.byteLength(m.body, 'utf8') > maxTokenBytes) continue;
        // Verified ahead of its turn, but inside its own trace.
        const result = inTrace(m.trace, () => now(m.body));
        result.catch(() => undefined); // observed when processed; never an unhandled rejection
        prefetched.set(m.receiptHandle, { at, result });
      }
    },
  };
}
