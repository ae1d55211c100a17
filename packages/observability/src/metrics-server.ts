// `GET /metrics` for the long-running processes without an HTTP API of their own (the gateway
// worker, the live audit): a bare node:http server, loopback unless the operator says otherwise.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPromMetrics, type PromMetrics } from './prom-metrics.ts';

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(
  metrics: PromMetrics,
  options: { readonly host?: string; readonly port: number },
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The `observability` part of the configuration that a process's `/metrics` needs. */
export interface MetricsServerConfig {
  readonly metricsPort?: number | undefined;
  readonly metricsHost: string;
}

/**
 * What the gateway worker and the live audit both do at start: a registry labelled with the
 * service, served on `/metrics` when a port is configured (undefined server otherwise).
 */
export async function startProcessMetrics(
  config: MetricsServerConfig,
  service: string,
): Promise<{ readonly metrics: PromMetrics; readonly server: MetricsServer | undefined }> {
  const metrics = createPromMetrics({ defaultLabels: { service } });
  const server =
    config.metricsPort === undefined
      ? undefined
      : await startMetricsServer(metrics, { host: config.metricsHost, port: config.metricsPort });
  return { metrics, server };
}
