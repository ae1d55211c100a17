// One order's spans share one trace id from the HTTP submit to the audit (embedded runtime,
// in-memory exporter): the trace context rides beside the token in the queue and beside the
// receipt in the bus event. The metrics of the same run match the workload: two accepted
// orders, one refused at the API, one EXECUTED and one policy-REJECTED receipt, a clean audit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@countersign/contracts';
import { createAuditFromConfig } from '@countersign/audit';
import { demoOrders, OVER_LIMIT_ORDER, prepareDemo } from '@countersign/cli';
import { createGatewayFromConfig } from '@countersign/exchange-gateway';
import { createPromMetrics } from '@countersign/observability';
import {
  InMemorySpanExporter,
  startTracing,
  type ReadableSpan,
  type RunningTracing,
} from '@countersign/observability/sdk';
import { createRequesterServiceFromConfig } from '@countersign/requester';

let dir: string;
let tracing: RunningTracing;
const exporter = new InMemorySpanExporter();
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'observe-trace-'));
  tracing = startTracing({ serviceName: 'countersign-test', exporter });
});
afterAll(async () => {
  await tracing.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('tracing and metrics across requester → gateway → audit (embedded)', () => {
  it('one trace per order from HTTP to audit; counters match the workload', async () => {
    const { config, apiKey } = prepareDemo(
      parseConfig({ env: { COUNTERSIGN_DATA_DIR: dir, COUNTERSIGN_LOG_LEVEL: 'silent' } }),
    );
    const metrics = createPromMetrics({ processMetrics: false });
    const requester = await createRequesterServiceFromConfig(config, { metrics });
    const gateway = await createGatewayFromConfig(config, { metrics, tracing: true });
    try {
      const good = demoOrders(1)[0]!;
      const post = (body: unknown) =>
        requester.app.request('/v1/transactions', {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const accepted = (await (await post(good)).json()) as { jti: string };
      const overLimit = (await (
        await post({ account: good.account, txn: OVER_LIMIT_ORDER })
      ).json()) as { jti: string };
      expect((await post({ account: good.account, txn: {} })).status).toBe(422);

      const messages = await gateway.queue.receive({ max: 10, waitMs: 0 });
      expect(messages).toHaveLength(2);
      for (const m of messages) {
        expect(m.trace?.traceparent).toMatch(/^00-/);
        const result = await gateway.processor.process(m);
        expect(result.action).toBe('delete');
        await gateway.queue.delete(m.receiptHandle);
      }
      const audit = createAuditFromConfig(config, { metrics });
      const report = await audit.replay({});
      await audit.close();
      expect(report.clean).toBe(true);

      const spans = exporter.getFinishedSpans();
      const traceIdOf = (jti: string) => {
        const send = spans.find(
          (s) => s.name === 'queue.send' && s.attributes['countersign.jti'] === jti,
        );
        expect(send, `queue.send span of ${jti}`).toBeDefined();
        return send!.spanContext().traceId;
      };
      const traceOf = (jti: string) => {
        const id = traceIdOf(jti);
        return new Set(
          spans.filter((s: ReadableSpan) => s.spanContext().traceId === id).map((s) => s.name),
        );
      };
      for (const jti of [accepted.jti, overLimit.jti]) {
        const names = traceOf(jti);
        for (const name of [
          'HTTP POST',
          'sign',
          'queue.send',
          'gateway.process',
          'gateway.verify',
        ]) {
          expect(names, `${name} in the trace of ${jti}`).toContain(name);
        }
        expect(names).toContain('gateway.nonce.complete');
        expect(names).toContain('gateway.bus.publish');
        expect(names).toContain('audit.verify');
      }
      expect(traceOf(accepted.jti)).toContain('gateway.exchange.place');
      expect(traceOf(accepted.jti)).toContain('gateway.nonce.claim');
      expect(traceIdOf(accepted.jti)).not.toBe(traceIdOf(overLimit.jti)); // one trace per order

      const text = await metrics.text();
      expect(sample(text, 'countersign_requests_total{result="accepted",reason="NONE"}')).toBe(2);
      expect(
        sample(text, 'countersign_requests_total{result="refused",reason="REQUEST_INVALID"}'),
      ).toBe(1);
      const receipts = text.split('\n').filter((l) => l.startsWith('countersign_receipts_total{'));
      expect(receipts).toHaveLength(2);
      expect(sample(text, 'countersign_receipts_total{outcome="EXECUTED",reason="NONE"}')).toBe(1);
      expect(receipts.join('\n')).toMatch(/outcome="REJECTED",reason="[A-Z_]+"} 1/);
      expect(sample(text, 'countersign_signatures_total{role="requester",result="ok"}')).toBe(2);
      expect(
        sample(text, 'countersign_signatures_total{role="gateway",result="ok"}'),
      ).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'countersign_queue_age_seconds_count')).toBe(2);
      expect(sample(text, 'countersign_audit_receipts_total')).toBe(2);
      expect(sample(text, 'countersign_audit_runs_total{verdict="clean"}')).toBe(1);
      expect(text).not.toContain('countersign_audit_findings_total{');
    } finally {
      await gateway.close();
      await requester.close();
    }
  });
});
