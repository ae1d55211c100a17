// The composition roots: runGateway (embedded worker, graceful stop) and the Lambda handler
// (env → aws wiring on moto, SQS event records → batchItemFailures, receipts on the rule's queue).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { SQSEvent } from 'aws-lambda';
import { ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  CheckpointClaims,
  embeddedPaths,
  ReceiptEventDetail,
  TokenTypes,
} from '@countersign/contracts';
import { signJwt } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import {
  createSqliteEventBus,
  createSqliteQueue,
  parseEventBridgeEnvelope,
} from '@countersign/transport';
import { createSqliteCheckpointLog, runGateway } from '@countersign/exchange-gateway';
import { decodeUnverified } from '@countersign/verifier';
import { newEs256Signer } from '@countersign/exchange-gateway/testing';
import { createAwsStack } from './support/aws-stack.ts';
import { clientConfig } from './support/aws.ts';

async function tokens(
  signer: Signer,
  gatewayId: string,
  n: number,
): Promise<{ jti: string; token: string }[]> {
  const iat = Math.floor(Date.now() / 1000);
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const jti = randomBytes(16).toString('base64url');
      const claims = {
        iss: 'bot-rt',
        sub: `acct-${i % 3}`,
        aud: gatewayId,
        iat,
        nbf: iat,
        exp: iat + 120,
        jti,
        txn: {
          type: 'order',
          side: 'buy',
          symbol: 'BTC-USD',
          quantity: '1',
          limitPrice: '10',
          timeInForce: 'IOC',
        },
      };
      return { jti, token: await signJwt(signer, claims, { typ: TokenTypes.REQUEST }) };
    }),
  );
}

const policies = (s: Signer) =>
  JSON.stringify([
    {
      id: 'bot-rt',
      accounts: ['acct-0', 'acct-1', 'acct-2'],
      symbols: ['BTC-USD'],
      maxNotional: '100',
      jwks: { keys: [s.publicJwk] },
    },
  ]);

describe('gateway composition roots', () => {
  it('runGateway (embedded): processes the queue, stops gracefully on abort, writes checkpoints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-main-'));
    const paths = embeddedPaths(dir);
    const requester = await newEs256Signer();
    const queue = createSqliteQueue({
      path: paths.queueDb,
      visibilityTimeoutSec: 30,
      maxReceives: 5,
    });
    const list = await tokens(requester, 'gw-rt', 25);
    for (let i = 0; i < list.length; i += 10) {
      await queue.sendBatch(
        list
          .slice(i, i + 10)
          .map((t, j) => ({ body: t.token, groupId: `acct-${(i + j) % 3}`, dedupId: t.jti })),
      );
    }
    const stop = new AbortController();
    const running = runGateway({
      env: {
        COUNTERSIGN_DATA_DIR: dir,
        COUNTERSIGN_GATEWAY_ID: 'gw-rt',
        COUNTERSIGN_POLICIES: policies(requester),
        COUNTERSIGN_LOG_LEVEL: 'silent',
      },
      signal: stop.signal,
    });
    const bus = createSqliteEventBus({ path: paths.busDb });
    const count = async () => {
      let n = 0;
      for await (const _ of bus.read({})) n += 1;
      return n;
    };
    const deadline = Date.now() + 30_000;
    while ((await count()) < 25 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    const counters = await running;
    expect(counters).toMatchObject({ deleted: 25, failed: 0 });
    expect(counters.outcomes.EXECUTED).toBe(25);
    const events: ReceiptEventDetail[] = [];
    for await (const e of bus.read({})) events.push(ReceiptEventDetail.parse(e.detail));
    expect(new Set(events.map((e) => e.messageId)).size).toBe(25);
    expect(queue.depth()).toMatchObject({ visible: 0, inFlight: 0 });
    // Written on graceful stop: the newest checkpoint covers the last receipt.
    const log = createSqliteCheckpointLog({ path: paths.checkpointLog });
    const [newest] = await log.recent('gw-rt/0', 1);
    expect(CheckpointClaims.parse(decodeUnverified(newest!.token)).seq).toBe(25);
    await log.close();
    await bus.close();
    await queue.close();
  });

  it('Lambda handler (aws mode on moto): env-wired once, answers batchItemFailures, receipts reach the rule queue', async () => {
    const stack = await createAwsStack();
    const requester = await newEs256Signer();
    const saved = { ...process.env };
    Object.assign(process.env, stack.env, {
      COUNTERSIGN_GATEWAY_ID: 'gw-lambda',
      COUNTERSIGN_POLICIES: policies(requester),
      COUNTERSIGN_LOG_LEVEL: 'silent',
    });
    onTestFinished(() => {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    });
    const { handler } = await import('@countersign/exchange-gateway/lambda');
    const sqs = new SQSClient(clientConfig());
    const list = await tokens(requester, 'gw-lambda', 6);
    const bad = `${list[5]!.token.slice(0, -6)}AAAAAA`; // tampered signature
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: stack.queueUrl,
        Entries: [...list.slice(0, 5).map((t) => t.token), bad].map((body, i) => ({
          Id: String(i),
          MessageBody: body,
          MessageGroupId: `acct-${i % 3}`,
          MessageDeduplicationId: `dd-${i}`,
        })),
      }),
    );
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const event = {
      Records: (received.Messages ?? []).map((m) => ({
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body!,
        attributes: m.Attributes as never,
        messageAttributes: {},
        md5OfBody: m.MD5OfBody!,
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:requests.fifo',
        awsRegion: 'us-east-1',
      })),
    } as SQSEvent;
    expect(event.Records.length).toBeGreaterThan(0);
    const res = await handler(event);
    expect(res.batchItemFailures).toEqual([]);
    // A second invocation reuses the container's wiring and re-publishes (idempotent).
    expect((await handler(event)).batchItemFailures).toEqual([]);
    const receipts = new Set<string>();
    const outcomes = new Map<string, string>();
    const deadline = Date.now() + 15_000;
    while (receipts.size < event.Records.length && Date.now() < deadline) {
      const got = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: stack.auditQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      for (const m of got.Messages ?? []) {
        const d = ReceiptEventDetail.parse(parseEventBridgeEnvelope(m.Body!).detail);
        receipts.add(d.receipt);
        // A plain JWS or a batch item (receipt batching is on in aws mode).
        const claims = decodeUnverified(d.receipt) as { outcome: string; reason?: string };
        outcomes.set(d.messageId, claims.reason ?? claims.outcome);
      }
    }
    expect(receipts.size).toBe(event.Records.length);
    const tamperedId = event.Records.find((r) => r.body === bad)?.messageId;
    if (tamperedId) expect(outcomes.get(tamperedId)).toBe('BAD_SIGNATURE');
    expect([...outcomes.values()].filter((o) => o === 'EXECUTED').length).toBe(
      event.Records.filter((r) => r.body !== bad).length,
    );
  });
});
