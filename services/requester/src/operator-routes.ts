// Operator routes of the requester service: `GET /metrics` (Prometheus text of this process's
// registry) and `GET /operator/events` (server-sent events: a summary of the metrics, and the
// operator status when the process knows it) behind the same API-key check as /v1; and
// `GET /operator`, the page that reads those events (static, holds no data: it asks for the key).
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Clock } from '@countersign/contracts';
import { operatorSummary, type PromMetrics } from '@countersign/observability';
import type { Env } from './http-app.ts';
import { OPERATOR_PAGE_HTML } from './operator-page.ts';

/** Stream heads, checkpoints: what the process running the gateway can tell (optional). */
export interface OperatorStatus {
  readonly streams: readonly {
    readonly stream: string;
    readonly seq: number;
    readonly checkpoint?: number;
  }[];
}

export interface OperatorRoutesOptions {
  readonly metrics: PromMetrics;
  readonly clock: Clock;
  /** How often the page gets a new summary. Default 250 ms (a rejection shows within a second). */
  readonly intervalMs?: number;
  readonly status?: () => Promise<OperatorStatus>;
}

export function operatorRoutes(options: OperatorRoutesOptions) {
  const { metrics, clock } = options;
  const intervalMs = options.intervalMs ?? 250;
  return (app: OpenAPIHono<Env>, authenticate: MiddlewareHandler<Env>): void => {
    app.use('/metrics', authenticate);
    app.get('/metrics', async (c) => {
      c.header('content-type', metrics.contentType);
      return c.body(await metrics.text());
    });

    app.get('/operator', (c) => c.redirect('/operator/', 302));
    app.get('/operator/', (c) => {
      c.header('cache-control', 'no-store');
      return c.html(OPERATOR_PAGE_HTML);
    });
    app.use('/operator/events', authenticate);
    app.get('/operator/events', (c) =>
      streamSSE(c, async (stream) => {
        while (!stream.aborted) {
          const summary = operatorSummary(await metrics.snapshot(), clock.now());
          const status = options.status ? await options.status().catch(() => undefined) : undefined;
          await stream.writeSSE({
            data: JSON.stringify(status ? { ...summary, status } : summary),
          });
          await stream.sleep(intervalMs);
        }
      }),
    );
  };
}
