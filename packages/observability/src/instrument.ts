// Decorators that add metrics and spans to a port without touching its implementation.
import { performance } from 'node:perf_hooks';
import type { Metrics } from './metrics.ts';
import { withSpan } from './tracing.ts';

/** The slice of the Signer port that is measured (structural: signing does not depend on us). */
interface SignPort {
  readonly alg: string;
  readonly kid: string;
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
}

function throttled(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth += 1) {
    const { name, code } = e as { name?: unknown; code?: unknown };
    if (name === 'ThrottlingException' || code === 'ThrottlingException') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Counts signatures (ok / throttled / error) and their latency under `role` (requester, gateway),
 * each in a `sign` span. Everything else of the signer (kid, publicJwk, metrics()) shows through.
 */
export function instrumentSigner<S extends SignPort>(
  signer: S,
  options: { readonly metrics: Metrics; readonly role: string },
): S {
  const { metrics, role } = options;
  const wrapped = Object.create(signer) as S & { sign: S['sign'] };
  wrapped.sign = (input: Uint8Array) =>
    withSpan('sign', { 'countersign.signer': role, 'countersign.alg': signer.alg }, async () => {
      const started = performance.now();
      try {
        const signature = await signer.sign(input);
        metrics.count('signatures_total', { role, result: 'ok' });
        return signature;
      } catch (err) {
        metrics.count('signatures_total', { role, result: throttled(err) ? 'throttled' : 'error' });
        throw err;
      } finally {
        metrics.observe('sign_seconds', { role }, (performance.now() - started) / 1000);
      }
    });
  // A key ring signs through its current key (signJwt asks for it): measure that one too.
  const ring = signer as S & { current?: () => S };
  if (typeof ring.current === 'function') {
    const seen = new WeakMap<S, S>();
    (wrapped as S & { current: () => S }).current = () => {
      const key = ring.current!();
      let w = seen.get(key);
      if (!w) seen.set(key, (w = instrumentSigner(key, options)));
      return w;
    };
  }
  return wrapped;
}
