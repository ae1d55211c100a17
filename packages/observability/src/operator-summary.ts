// What the live operator page shows, computed from a metrics snapshot: counts by outcome and
// reason, latency percentiles from histogram buckets, the audit's verdicts. Plain data, so the
// page's script only draws.
import type { MetricsSnapshot, SeriesSnapshot } from './prom-metrics.ts';

export interface Percentiles {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
}

export interface OperatorSummary {
  /** Epoch ms of the snapshot. */
  readonly at: number;
  readonly requests: { readonly accepted: number; readonly refused: Record<string, number> };
  readonly receipts: {
    readonly total: number;
    readonly byOutcome: Record<string, number>;
    /** REJECTED receipts by reason code. */
    readonly rejected: Record<string, number>;
  };
  /** Seconds. */
  readonly latency: {
    readonly process: Percentiles;
    readonly sign: Percentiles;
    readonly queueAge: Percentiles;
  };
  readonly conflicts: { readonly nonce: number; readonly chain: number };
  readonly audit: {
    readonly receipts: number;
    readonly runs: Record<string, number>;
    readonly findings: Record<string, number>;
  };
}

/** Upper bound of the bucket holding quantile `q` of the merged series (null when empty). */
export function histogramQuantile(series: readonly SeriesSnapshot[], q: number): number | null {
  const merged = new Map<number, number>();
  for (const s of series)
    for (const b of s.buckets ?? []) merged.set(b.le, (merged.get(b.le) ?? 0) + b.count);
  const buckets = [...merged].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const found = buckets.find(([, count]) => count >= q * total);
  return found ? found[0] : null;
}

function percentiles(series: readonly SeriesSnapshot[] = []): Percentiles {
  return {
    count: series.reduce((n, s) => n + s.value, 0),
    p50: histogramQuantile(series, 0.5),
    p90: histogramQuantile(series, 0.9),
    p99: histogramQuantile(series, 0.99),
  };
}

function sumBy(
  series: readonly SeriesSnapshot[] = [],
  label: string,
  keep: (s: SeriesSnapshot) => boolean = () => true,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of series) {
    if (!keep(s)) continue;
    const key = s.labels[label] ?? '';
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

export function operatorSummary(snapshot: MetricsSnapshot, at: number): OperatorSummary {
  const receipts = snapshot.receipts_total ?? [];
  const requests = snapshot.requests_total ?? [];
  const total = (series: readonly SeriesSnapshot[] = []) => series.reduce((n, s) => n + s.value, 0);
  return {
    at,
    requests: {
      accepted: total(requests.filter((s) => s.labels.result === 'accepted')),
      refused: sumBy(requests, 'reason', (s) => s.labels.result === 'refused'),
    },
    receipts: {
      total: total(receipts),
      byOutcome: sumBy(receipts, 'outcome'),
      rejected: sumBy(receipts, 'reason', (s) => s.labels.outcome === 'REJECTED'),
    },
    latency: {
      process: percentiles(snapshot.process_seconds),
      sign: percentiles(snapshot.sign_seconds),
      queueAge: percentiles(snapshot.queue_age_seconds),
    },
    conflicts: {
      nonce: total(snapshot.nonce_conflicts_total),
      chain: total(snapshot.chain_conflicts_total),
    },
    audit: {
      receipts: total(snapshot.audit_receipts_total),
      runs: sumBy(snapshot.audit_runs_total, 'verdict'),
      findings: sumBy(snapshot.audit_findings_total, 'code'),
    },
  };
}
