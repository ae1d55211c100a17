// Prometheus adapter of the Metrics port: one prom-client registry per process, served as text
// by `GET /metrics`, with a JSON snapshot for the live operator page.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricValue } from 'prom-client';
import { METRIC_CATALOG, METRIC_PREFIX, type MetricName } from './catalog.ts';
import type { Metrics } from './metrics.ts';

/** One series of a snapshot: counters carry `value`, histograms `count`, `sum` and buckets. */
export interface SeriesSnapshot {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly buckets?: readonly { readonly le: number; readonly count: number }[];
  readonly sum?: number;
}
export type MetricsSnapshot = Readonly<Partial<Record<MetricName, readonly SeriesSnapshot[]>>>;

export interface PromMetrics extends Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** The exposition text of every metric. */
  text(): Promise<string>;
  /** Current values of the countersign metrics (for the operator page). */
  snapshot(): Promise<MetricsSnapshot>;
}

export interface PromMetricsOptions {
  /** Labels on every series (e.g. `{ service: 'gateway' }`). */
  readonly defaultLabels?: Readonly<Record<string, string>>;
  /** Node process metrics (CPU, heap, event loop lag). Default true. */
  readonly processMetrics?: boolean;
}

type Instrument = Counter<string> | Histogram<string>;
interface MutableSeries {
  labels: Record<string, string>;
  value: number;
  sum: number;
  buckets: { le: number; count: number }[];
}

export function createPromMetrics(options: PromMetricsOptions = {}): PromMetrics {
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels({ ...options.defaultLabels });
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const instruments = new Map<MetricName, Instrument>();
  for (const [name, def] of Object.entries(METRIC_CATALOG) as [
    MetricName,
    (typeof METRIC_CATALOG)[MetricName],
  ][]) {
    const common = {
      name: `${METRIC_PREFIX}${name}`,
      help: def.help,
      labelNames: [...def.labels],
      registers: [registry],
    };
    instruments.set(
      name,
      def.kind === 'counter'
        ? new Counter(common)
        : new Histogram({ ...common, buckets: [...def.buckets] }),
    );
  }

  return {
    registry,
    contentType: registry.contentType,
    count(name, labels, by = 1) {
      (instruments.get(name) as Counter<string>).inc(labels as Record<string, string>, by);
    },
    observe(name, labels, value) {
      (instruments.get(name) as Histogram<string>).observe(labels as Record<string, string>, value);
    },
    text: () => registry.metrics(),
    async snapshot() {
      const out: Partial<Record<MetricName, SeriesSnapshot[]>> = {};
      for (const [name, instrument] of instruments) {
        const { values } = await instrument.get();
        const def = METRIC_CATALOG[name];
        if (def.kind === 'counter') {
          out[name] = values.map((v) => ({ labels: stringLabels(v.labels), value: v.value }));
          continue;
        }
        // prom-client lists a histogram as _bucket, _sum and _count series per label set.
        const byKey = new Map<string, MutableSeries>();
        for (const v of values as readonly (MetricValue<string> & { metricName?: string })[]) {
          const { le, ...own } = stringLabels(v.labels);
          const key = JSON.stringify(own);
          const s = byKey.get(key) ?? { labels: own, value: 0, buckets: [], sum: 0 };
          byKey.set(key, s);
          if (v.metricName?.endsWith('_bucket') && le !== undefined) {
            s.buckets.push({ le: le === '+Inf' ? Infinity : Number(le), count: v.value });
          } else if (v.metricName?.endsWith('_sum')) s.sum = v.value;
          else if (v.metricName?.endsWith('_count')) s.value = v.value;
        }
        out[name] = [...byKey.values()];
      }
      return out;
    },
  };
}

function stringLabels(labels: object): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)]));
}
