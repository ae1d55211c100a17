// @countersign/observability: the Metrics port and its adapters (Prometheus text, CloudWatch
// EMF), the metric catalogue, and tracing helpers on the OpenTelemetry API. The SDK lives in
// `@countersign/observability/sdk`, for composition roots only.
export { METRIC_CATALOG, METRIC_PREFIX, LATENCY_BUCKETS_SEC, AGE_BUCKETS_SEC } from './catalog.ts';
export type { MetricName, CounterName, HistogramName, LabelsOf } from './catalog.ts';
export { noopMetrics, teeMetrics } from './metrics.ts';
export type { Metrics } from './metrics.ts';
export { createPromMetrics } from './prom-metrics.ts';
export type {
  PromMetrics,
  PromMetricsOptions,
  MetricsSnapshot,
  SeriesSnapshot,
} from './prom-metrics.ts';
export { createEmfMetrics, CLOUDWATCH_NAMESPACE } from './emf-metrics.ts';
export type { EmfMetrics, EmfMetricsOptions } from './emf-metrics.ts';
export { startMetricsServer, startProcessMetrics } from './metrics-server.ts';
export type { MetricsServer, MetricsServerConfig } from './metrics-server.ts';
export { injectTrace, extractTrace, inTrace, withSpan, traced, TRACER_NAME } from './tracing.ts';
export type { TraceCarrier } from './tracing.ts';
export { instrumentSigner } from './instrument.ts';
export { operatorSummary, histogramQuantile } from './operator-summary.ts';
export type { OperatorSummary, Percentiles } from './operator-summary.ts';
