// The metrics countersign records, in one place: name, kind, help, label names. Libraries
// record through the `Metrics` port by these names; the Prometheus registry, the EMF writer
// and the CDK alarms read this catalogue, so a metric cannot be spelled two ways.

/** Histogram buckets in seconds: sub-millisecond verifies up to multi-second KMS retries. */
export const LATENCY_BUCKETS_SEC = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;
/** Queue age in seconds: from instant to a message the DLQ is about to take. */
export const AGE_BUCKETS_SEC = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600] as const;

export const METRIC_CATALOG = {
  requests_total: {
    kind: 'counter',
    help: 'Requests the requester took (accepted: signed and enqueued) or refused, by reason',
    labels: ['result', 'reason'],
  },
  signatures_total: {
    kind: 'counter',
    help: 'Signatures made, by signer role and result (ok, throttled, error)',
    labels: ['role', 'result'],
  },
  sign_seconds: {
    kind: 'histogram',
    help: 'Latency of one signature (KMS Sign or the local signer)',
    labels: ['role'],
    buckets: LATENCY_BUCKETS_SEC,
  },
  receipts_total: {
    kind: 'counter',
    help: 'Receipts the gateway emitted, by outcome and reason (NONE when EXECUTED)',
    labels: ['outcome', 'reason'],
  },
  process_seconds: {
    kind: 'histogram',
    help: 'Gateway time per message, from receive to receipt published',
    labels: ['outcome'],
    buckets: LATENCY_BUCKETS_SEC,
  },
  queue_age_seconds: {
    kind: 'histogram',
    help: 'Age of a request message when the gateway took it (now − sent)',
    labels: [],
    buckets: AGE_BUCKETS_SEC,
  },
  messages_left_total: {
    kind: 'counter',
    help: 'Messages the gateway left on the queue, by why (IN_PROGRESS, UNRESOLVED, POISON)',
    labels: ['why'],
  },
  nonce_conflicts_total: {
    kind: 'counter',
    help: 'Claims that found the nonce taken (a redelivery or a replay), by what it found',
    labels: ['found'],
  },
  chain_conflicts_total: {
    kind: 'counter',
    help: 'Stream head advances lost to another writer (conditional write on the previous seq)',
    labels: [],
  },
  audit_findings_total: {
    kind: 'counter',
    help: 'Audit findings, by code',
    labels: ['code'],
  },
  audit_receipts_total: {
    kind: 'counter',
    help: 'Receipts the audit verified',
    labels: [],
  },
  audit_runs_total: {
    kind: 'counter',
    help: 'Audit runs (or live batches), by verdict (clean, findings)',
    labels: ['verdict'],
  },
  verify_cache_total: {
    kind: 'counter',
    help: 'Verification key lookups by kid, by result (hit: cached KeyObject, miss: resolved)',
    labels: ['result'],
  },
} as const;

export type MetricName = keyof typeof METRIC_CATALOG;
type Entry<N extends MetricName> = (typeof METRIC_CATALOG)[N];
export type CounterName = {
  [N in MetricName]: Entry<N>['kind'] extends 'counter' ? N : never;
}[MetricName];
export type HistogramName = {
  [N in MetricName]: Entry<N>['kind'] extends 'histogram' ? N : never;
}[MetricName];
/** The labels a metric takes, by name (all strings). */
export type LabelsOf<N extends MetricName> = {
  readonly [L in Entry<N>['labels'][number]]: string;
};

/** Every exported metric name carries this prefix. */
export const METRIC_PREFIX = 'countersign_';
