// Shared setup of the Lambda tracing tests: an embedded data dir prepared like the demo, the
// environment a Lambda would get with COUNTERSIGN_TRACING=otlp pointed at an in-memory OTLP
// receiver, and SQS records shaped as the event source delivers them.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll } from 'vitest';
import { parseConfig, type CountersignConfig } from '@countersign/contracts';
import { demoOrders, prepareDemo } from '@countersign/cli';
import { createRequesterFromConfig } from '@countersign/requester';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.ts';

export interface LambdaTracingSetup {
  readonly config: CountersignConfig;
  readonly apiKey: string;
  readonly receiver: OtlpReceiver;
  /** Restores the environment, stops the receiver, removes the data dir. */
  cleanup(): Promise<void>;
}

export async function setupLambdaTracing(): Promise<LambdaTracingSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'lambda-tracing-'));
  const receiver = await startOtlpReceiver();
  const { config, apiKey } = prepareDemo(
    parseConfig({ env: { COUNTERSIGN_DATA_DIR: dir, COUNTERSIGN_LOG_LEVEL: 'silent' } }),
  );
  const env: Record<string, string> = {
    COUNTERSIGN_DATA_DIR: dir,
    COUNTERSIGN_LOG_LEVEL: 'silent',
    COUNTERSIGN_API_KEYS: JSON.stringify(config.requester.apiKeys),
    COUNTERSIGN_POLICIES: JSON.stringify(config.gateway.policies),
    COUNTERSIGN_TRACING: 'otlp',
    COUNTERSIGN_OTLP_ENDPOINT: receiver.url,
  };
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return {
    config,
    apiKey,
    receiver,
    async cleanup() {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sets the Lambda environment up before the file's tests and tears it down after them. */
export function useLambdaTracing(): () => LambdaTracingSetup {
  let setup: LambdaTracingSetup | undefined;
  beforeAll(async () => {
    setup = await setupLambdaTracing();
  });
  afterAll(() => setup?.cleanup());
  return () => {
    if (!setup) throw new Error('the Lambda tracing setup runs in beforeAll');
    return setup;
  };
}

/** A W3C traceparent of a caller's span, as a client or an upstream service would send it. */
export function callerTrace(): { traceparent: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

/** An SQS event source record; `traceparent` travels as a String message attribute. */
export function sqsRecord(
  messageId: string,
  body: string,
  traceparent: string,
  groupId?: string,
): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
      ...(groupId ? { MessageGroupId: groupId } : {}),
    },
    messageAttributes: { traceparent: { dataType: 'String', stringValue: traceparent } },
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:queue',
    awsRegion: 'us-east-1',
  };
}

/** Signs one demo order and puts it on the queue, as the requester does (before tracing starts). */
export async function submitOneOrder(config: CountersignConfig): Promise<void> {
  const requester = await createRequesterFromConfig(config);
  const order = demoOrders(1)[0]!;
  await requester.requester.submit(order.txn, { account: order.account });
  await requester.close();
}
