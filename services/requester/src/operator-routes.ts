// Operator routes of the requester service, behind the same API-key check as /v1:
// `GET /metrics` (Prometheus text of this process's registry) and the live operator page
// (`GET /operator`, fed by `GET /operator/events`, server-sent events).
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { PromMetrics } from '@countersign/observability';
import type { Env } from './http-app.ts';

export interface OperatorRoutesOptions {
  readonly metrics: PromMetrics;
}

export function operatorRoutes(options: OperatorRoutesOptions) {
  const { metrics } = options;
  return (app: OpenAPIHono<Env>, authenticate: MiddlewareHandler<Env>): void => {
    app.use('/metrics', authenticate);
    app.get('/metrics', async (c) => {
      c.header('content-type', metrics.contentType);
      return c.body(await metrics.text());
    });
  };
}
