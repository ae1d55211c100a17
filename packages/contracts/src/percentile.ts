// One percentile for every latency figure (KMS signer metrics, the demo, the benchmarks).

/**
 * Nearest-rank percentile of an ascending array, `p` in percent (50 = median, 99 = p99): the
 * smallest value with at least p% of the values at or below it. 0 for an empty array.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((Math.min(100, Math.max(0, p)) / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
