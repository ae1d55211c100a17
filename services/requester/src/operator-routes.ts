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

/** One receipt stream as the data directory shows it (read for display, not verified). */
export interface OperatorStreamStatus {
  readonly stream: string;
  /** The chain head: last seq and the first characters of its hash. */
  readonly seq: number;
  readonly head: string;
  /** Epoch ms the head receipt was published (null: not among the recent bus events). */
  readonly at: number | null;
  /** The last signed checkpoint: the seq it covers and when it was signed (epoch ms). */
  readonly checkpoint: { readonly index: number; readonly seq: number; readonly at: number } | null;
  /** Receipts after the last checkpoint. */
  readonly behind: number;
  /** The seq the audit's saved state has verified up to (null: not audited yet). */
  readonly audited: number | null;
}

/** Stream heads, checkpoints, the audit's saved state: what the data directory tells. */
export interface OperatorStatus {
  readonly streams: readonly OperatorStreamStatus[];
  /** When the audit last saved its state (epoch ms; null: never). */
  readonly auditSavedAt: number | null;
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
