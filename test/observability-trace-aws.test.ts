// One order's spans share one trace id on the AWS adapters (moto), in-memory exporter: library
// submit (KMS sign, SQS send) → SQS message attributes → the gateway's verify/claim/execute/
// complete/publish → EventBridge → rule → audit queue → the live audit's verification.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@countersign/contracts';
import { createAuditFromConfig } from '@countersign/audit';
import { demoOrders, prepareDemo } from '@countersign/cli';
import { createGatewayFromConfig } from '@countersign/exchange-gateway';
import {
  InMemorySpanExporter,
  startTracing,
  type RunningTracing,
} from '@countersign/observability/sdk';
import { createRequesterFromConfig } from '@countersign/requester';
import { createAwsStack } from './support/aws-stack.ts';
import { until } from './support/receipts.ts';

let tracing: RunningTracing;
const exporter = new InMemorySpanExporter();
beforeAll(() => {
  tracing = startTracing({ serviceName: 'countersign-test', exporter });
});
afterAll(() => tracing.shutdown());

describe('tracing across requester → SQS → gateway → EventBridge → audit (moto)', () => {
  it('one trace id from library submit to the audit verification', async () => {
    const stack = await createAwsStack();
    const { config } = prepareDemo(
      parseConfig({
        env: {
          ...stack.env,
          COUNTERSIGN_DATA_DIR: mkdtempSync(join(tmpdir(), 'observe-trace-aws-')),
          COUNTERSIGN_LOG_LEVEL: 'silent',
        },
        part: 'all',
      }),
    );
    const requester = await createRequesterFromConfig(config);
    const gateway = await createGatewayFromConfig(config, { tracing: true });
    const audit = createAuditFromConfig(config);
    try {
      const order = demoOrders(1)[0]!;
      const { jti } = await requester.requester.submit(order.txn, { account: order.account });
      const [message] = await gateway.queue.receive({ max: 1, waitMs: 5000 });
      expect(message?.trace?.traceparent).toMatch(/^00-/);
      expect(await gateway.processor.process(message!)).toMatchObject({ outcome: 'EXECUTED' });
      await gateway.queue.delete(message!.receiptHandle);

      const send = exporter
        .getFinishedSpans()
        .find((s) => s.name === 'queue.send' && s.attributes['countersign.jti'] === jti);
      expect(send).toBeDefined();
      const traceId = send!.spanContext().traceId;
      const names = () =>
        new Set(
          exporter
            .getFinishedSpans()
            .filter((s) => s.spanContext().traceId === traceId)
            .map((s) => s.name),
        );

      const stop = new AbortController();
      const live = audit.live({ signal: stop.signal });
      await until(() => names().has('audit.verify'), 20_000, 'the audit verification span');
      stop.abort();
      expect((await live).clean).toBe(true);
      for (const name of [
        'sign',
        'queue.send',
        'gateway.process',
        'gateway.verify',
        'gateway.nonce.claim',
        'gateway.exchange.place',
        'gateway.nonce.complete',
        'gateway.bus.publish',
        'audit.verify',
      ]) {
        expect(names(), `${name} in the trace`).toContain(name);
      }
    } finally {
      await audit.close();
      await gateway.close();
      await requester.close();
    }
  }, 60_000);
});
