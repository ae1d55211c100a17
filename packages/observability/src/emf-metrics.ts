// CloudWatch embedded metric format (EMF) adapter of the Metrics port, for the Lambdas: values
// add up during an invocation and `flush()` writes one JSON line per label set to stdout, which
// the Lambda log pipeline turns into metrics. Written by hand rather than with Powertools
// Metrics: our metrics carry per-datapoint labels (outcome, reason, code), which Powertools
// can only emit as one flushed `singleMetric()` per datapoint.
//
// Each document declares two dimension sets, [service] and [service, ...labels], so an alarm
// can watch a total (any audit finding) and a dashboard can split it (by code).
import type { Clock } from '@countersign/contracts';
import { METRIC_CATALOG, type MetricName } from './catalog.ts';
import type { Metrics } from './metrics.ts';

/** CloudWatch namespace of every countersign metric. */
export const CLOUDWATCH_NAMESPACE = 'Countersign';
/** CloudWatch keeps at most 100 values per metric per document. */
const MAX_VALUES = 100;

export interface EmfMetrics extends Metrics {
  /** Writes what was recorded since the last flush and starts over. */
  flush(): void;
}

export interface EmfMetricsOptions {
  /** The `service` dimension: requester, gateway or audit. */
  readonly service: string;
  readonly clock: Clock;
  /** Where a document goes (stdout in a Lambda). */
  readonly write: (line: string) => void;
  readonly namespace?: string;
}

interface Pending {
  readonly name: MetricName;
  readonly labels: Readonly<Record<string, string>>;
  sum: number;
  readonly values: number[];
}

export function createEmfMetrics(options: EmfMetricsOptions): EmfMetrics {
  const namespace = options.namespace ?? CLOUDWATCH_NAMESPACE;
  let pending = new Map<string, Pending>();
  const entry = (name: MetricName, labels: object): Pending => {
    const own = labels as Record<string, string>;
    const key = `${name}\u0000${JSON.stringify(own)}`;
    let p = pending.get(key);
    if (!p) {
      p = { name, labels: own, sum: 0, values: [] };
      pending.set(key, p);
    }
    return p;
  };

  return {
    count(name, labels, by = 1) {
      entry(name, labels).sum += by;
    },
    observe(name, labels, value) {
      const p = entry(name, labels);
      if (p.values.length < MAX_VALUES) p.values.push(value);
    },
    flush() {
      const batch = pending;
      pending = new Map();
      const timestamp = options.clock.now();
      for (const p of batch.values()) {
        const def = METRIC_CATALOG[p.name];
        const labelNames = Object.keys(p.labels);
        const dimensions = [
          ['service'],
          ...(labelNames.length ? [['service', ...labelNames]] : []),
        ];
        const doc = {
          _aws: {
            Timestamp: timestamp,
            CloudWatchMetrics: [
              {
                Namespace: namespace,
                Dimensions: dimensions,
                Metrics: [{ Name: p.name, Unit: def.kind === 'counter' ? 'Count' : 'Seconds' }],
              },
            ],
          },
          service: options.service,
          ...p.labels,
          [p.name]: def.kind === 'counter' ? p.sum : p.values,
        };
        options.write(JSON.stringify(doc));
      }
    },
  };
}
