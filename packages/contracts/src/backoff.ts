// One backoff rule for every retry loop (SQS, EventBridge, the gateway's side-effect-free
// retries): exponential with full jitter, capped.

/**
 * Full-jitter exponential backoff: a random delay in [0, min(maxDelayMs, baseDelayMs * 2^attempt)),
 * `attempt` counting from 0 for the first retry.
 */
export function backoffDelayMs(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}
