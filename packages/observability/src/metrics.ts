// The Metrics port libraries record through, and its no-op. Adapters: Prometheus text for the
// long-running processes (prom-metrics.ts), CloudWatch embedded metric format for the Lambdas
// (emf-metrics.ts). Libraries take `metrics?: Metrics` and default to `noopMetrics`.
import type { CounterName, HistogramName, LabelsOf } from './catalog.ts';

export interface Metrics {
  count<N extends CounterName>(name: N, labels: LabelsOf<N>, by?: number): void;
  /** Seconds for the *_seconds histograms. */
  observe<N extends HistogramName>(name: N, labels: LabelsOf<N>, value: number): void;
}

export const noopMetrics: Metrics = {
  count: () => undefined,
  observe: () => undefined,
};

/** Records into every one of `sinks` (a process that both serves /metrics and feeds a page). */
export function teeMetrics(...sinks: readonly Metrics[]): Metrics {
  return {
    count: (name, labels, by) => sinks.forEach((s) => s.count(name, labels, by)),
    observe: (name, labels, value) => sinks.forEach((s) => s.observe(name, labels, value)),
  };
}
