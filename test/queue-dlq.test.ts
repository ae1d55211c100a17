// `countersign queue dlq|redrive` on real data: an embedded data directory whose request was
// claimed and placed on the paper exchange by a gateway that was then killed, and whose message
// then died (maxReceives 1); and the SQS DLQ of a FIFO queue on moto.
//
// moto 5.2.5 does not implement StartMessageMoveTask (nor List/CancelMessageMoveTasks): on moto
// `queue redrive --all` can only be shown to fail cleanly (exit 1, the SDK error named); the
// request it sends is checked against a stub client instead. GetQueueAttributes (RedrivePolicy,
// ApproximateNumberOfMessages), GetQueueUrl and ReceiveMessage with VisibilityTimeout 0 run on
// moto.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import {
  AuditReport,
  embeddedPaths,
  parseConfig,
  ReceiptEventDetail,
  systemClock,
  TokenTypes,
} from '@countersign/contracts';
import { createAuditFromConfig } from '@countersign/audit';
import { signJwt } from '@countersign/signing';
import { createSqliteEventBus, createSqliteQueue } from '@countersign/transport';
import {
  createGatewayFromConfig,
  createPaperExchange,
  createWorker,
  silentLogger,
} from '@countersign/exchange-gateway';
import { newEs256Signer } from '@countersign/exchange-gateway/testing';
import {
  auditReconcileCommand,
  openReconcileSources,
} from '../services/cli/src/commands/audit-reconcile.ts';
import {
  queueDlqCommand,
  queueRedriveCommand,
  type QueueCommandIO,
} from '../services/cli/src/commands/queue.ts';
import { createFifoQueueWithDlq } from './support/aws-stack.ts';
import { clientConfig } from './support/aws.ts';
import { until, verifiedReceipts } from './support/receipts.ts';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function sink() {
  let text = '';
  return { write: (t: string) => (text += t), text: () => text };
}

function cliIO(env: Record<string, string>, sqs?: () => SQSClient) {
  const stdout = sink();
  const stderr = sink();
  const io: QueueCommandIO = { env, stdout, stderr, ...(sqs ? { sqs } : {}) };
  return { io, stdout, stderr };
}

async function reconcile(env: Record<string, string>) {
  const stdout = sink();
  const stderr = sink();
  const code = await auditReconcileCommand(
    { format: 'json' },
    {
      env,
      stdout,
      stderr,
      createRuntime: (config) => createAuditFromConfig(config),
      writeFile: () => Promise.resolve(),
      openSources: openReconcileSources,
      clock: systemClock,
    },
  );
  expect(stderr.text()).toBe('');
  return { code, report: AuditReport.parse(JSON.parse(stdout.text())) };
}

const body = async (signer: Awaited<ReturnType<typeof newEs256Signer>>, jti: string) => {
  const iat = Math.floor(Date.now() / 1000);
  const claims = { iss: 'bot', sub: 'acct-a', aud: 'gw-redrive', iat, nbf: iat, exp: iat + 120 };
  const txn = {
    type: 'order',
    side: 'buy',
    symbol: 'BTC-USD',
    quantity: '0.25',
    limitPrice: '100',
    timeInForce: 'GTC',
  };
  return signJwt(signer, { ...claims, jti, txn }, { typ: TokenTypes.REQUEST });
};

describe('queue redrive on an embedded data directory', () => {
  it('a message that died after its order was placed: redriven, the gateway receipts the exchange’s order, reconcile is clean', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'queue-redrive-'));
    const paths = embeddedPaths(dir);
    const requester = await newEs256Signer();
    const env = {
      COUNTERSIGN_DATA_DIR: dir,
      COUNTERSIGN_GATEWAY_ID: 'gw-redrive',
      COUNTERSIGN_REQUESTER_ID: 'bot',
      COUNTERSIGN_VISIBILITY_TIMEOUT_SEC: '2', // audit calls a request stuck 2 s after its lease
      COUNTERSIGN_MAX_RECEIVES: '1',
      COUNTERSIGN_LOG_LEVEL: 'silent',
      COUNTERSIGN_POLICIES: JSON.stringify([
        {
          id: 'bot',
          accounts: ['acct-a'],
          symbols: ['BTC-USD'],
          maxNotional: '1000000',
          jwks: { keys: [requester.publicJwk] },
        },
      ]),
    };
    const jti = 'redrive-0001-xxxxxxxxx';
    const queue = createSqliteQueue({
      path: paths.queueDb,
      visibilityTimeoutSec: 300,
      maxReceives: 1,
    });
    const { messageId } = await queue.send({
      body: await body(requester, jti),
      groupId: 'acct-a',
      dedupId: jti,
    });

    // 1. A gateway claims the request, places the order, and is killed before it completes.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./support/gateway-hold-child.ts', import.meta.url)),
      ],
      {
        env: { ...process.env, ...env, HOLD_AT: 'complete' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('hold placed') || child.exitCode !== null, 30_000, 'the hold');
    expect(out).toContain(`hold placed bot#${jti}`);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const exchange = createPaperExchange({ path: paths.exchangeDb });
    expect(exchange.executions()).toBe(1);

    // 2. The next gateway takes the dead one's delivery and lease back; that delivery was the
    // message's last, so its next receive moves it to the DLQ. Nothing is receipted.
    const config = parseConfig({ env, part: 'gateway' });
    const runGateway = async (done: () => boolean) => {
      const gw = await createGatewayFromConfig(config, { exclusive: true, logger: silentLogger });
      const worker = createWorker({
        queue: gw.queue,
        processor: gw.processor,
        concurrency: 2,
        waitMs: 50,
        visibilityTimeoutSec: 2,
        reconcileIntervalMs: 0,
      });
      const running = worker.run();
      await until(done, 30_000, 'the gateway');
      await worker.stop();
      await running;
      await gw.close();
      return gw.signer.publicJwk;
    };
    await runGateway(() => queue.depth().dlq === 1);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 1 });
    const leaseTaken = Date.now();
    await until(() => Date.now() > leaseTaken + 2_100, 5_000, 'the stuck window');

    // The audit trusts the requester's key from the keys directory, as `keys generate` leaves it.
    writeFileSync(
      join(paths.keysDir, 'requester.jwks.json'),
      JSON.stringify({ keys: [requester.publicJwk] }),
    );
    const stuck = await reconcile(env);
    expect(stuck.code).toBe(3);
    expect(stuck.report.summary.findingsByCode).toEqual({
      EXECUTION_WITHOUT_RECEIPT: 1,
      STUCK_IN_PROGRESS: 1,
    });

    // 3. The operator looks, and redrives.
    const listed = cliIO(env);
    expect(await queueDlqCommand({ json: true }, listed.io)).toBe(0);
    expect(JSON.parse(listed.stdout.text())).toMatchObject({
      count: 1,
      messages: [
        {
          messageId,
          groupId: 'acct-a',
          receiveCount: 1,
          unverified: { iss: 'bot', jti, sub: 'acct-a' },
        },
      ],
    });
    const redrive = cliIO(env);
    expect(await queueRedriveCommand({ all: true }, redrive.io)).toBe(0);
    expect(redrive.stdout.text()).toContain(`moved ${messageId}  group=acct-a`);
    expect(queue.depth()).toEqual({ visible: 1, inFlight: 0, dlq: 0 });

    // 4. The gateway's takeover finds the order on the exchange: EXECUTED, no second placement.
    const bus = createSqliteEventBus({ path: paths.busDb });
    const events = async () => {
      const got: ReceiptEventDetail[] = [];
      for await (const e of bus.read({})) got.push(ReceiptEventDetail.parse(e.detail));
      return got;
    };
    const gatewayKey = await runGateway(() => {
      const d = queue.depth();
      return d.visible === 0 && d.inFlight === 0;
    });
    const receipts = await verifiedReceipts(await events(), gatewayKey, 'gw-redrive');
    expect(receipts.map((r) => [r.claims.outcome, r.claims.req.jti, r.claims.messageId])).toEqual([
      ['EXECUTED', jti, messageId],
    ]);
    expect(exchange.executions()).toBe(1);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });

    const clean = await reconcile(env);
    expect(clean.report.findings).toEqual([]);
    expect(clean.code).toBe(0);
    await Promise.all([bus.close(), exchange.close(), queue.close()]);
  }, 90_000);
});

describe('queue dlq / redrive in aws mode (moto)', () => {
  it('finds the DLQ from the RedrivePolicy and peeks at it without taking the messages', async () => {
    const sqs = new SQSClient(clientConfig());
    const name = `dlq-cli-${Date.now()}`;
    const { queueUrl, dlqUrl } = await createFifoQueueWithDlq(sqs, name, {
      maxReceiveCount: 1,
      visibilityTimeoutSec: 30,
    });
    const requester = await newEs256Signer();
    const jti = 'aws-dlq-0001-xxxxxxxxx';
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: await body(requester, jti),
        MessageGroupId: 'acct-a',
        MessageDeduplicationId: jti,
      }),
    );
    // Received once, released, received again: past maxReceiveCount, moto moves it to the DLQ.
    for (let i = 0; i < 2; i++) {
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 0 }));
    }
    const env = { COUNTERSIGN_MODE: 'aws', COUNTERSIGN_QUEUE_URL: queueUrl };
    for (let look = 0; look < 2; look++) {
      const listed = cliIO(env, () => sqs);
      expect(await queueDlqCommand({ json: true }, listed.io)).toBe(0);
      expect(JSON.parse(listed.stdout.text())).toMatchObject({
        dlq: expect.stringMatching(new RegExp(`:${name}-dlq\\.fifo$`)) as string,
        count: 1,
        messages: [{ groupId: 'acct-a', unverified: { iss: 'bot', jti, sub: 'acct-a' } }],
      });
    }
    // Still there for a consumer after two looks.
    const left = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl }));
    expect(left.Messages).toHaveLength(1);

    // moto 5.2.5 has no StartMessageMoveTask: a clean QUEUE_FAILED (the command runner: exit 1).
    const redrive = cliIO(env, () => sqs);
    await expect(queueRedriveCommand({ all: true }, redrive.io)).rejects.toMatchObject({
      code: 'QUEUE_FAILED',
    });
  });

  it('redrive --all asks SQS to move the DLQ back to the source queue (stub over moto)', async () => {
    const sqs = new SQSClient(clientConfig());
    const name = `dlq-move-${Date.now()}`;
    const { queueUrl } = await createFifoQueueWithDlq(sqs, name, {
      maxReceiveCount: 1,
      visibilityTimeoutSec: 30,
    });
    const moves: unknown[] = [];
    const send = sqs.send.bind(sqs);
    const stub = Object.assign(Object.create(sqs) as SQSClient, {
      send: (command: unknown) => {
        if (command instanceof StartMessageMoveTaskCommand) {
          moves.push(command.input);
          return Promise.resolve({ TaskHandle: 'task-1' });
        }
        return send(command as never);
      },
    });
    const env = { COUNTERSIGN_MODE: 'aws', COUNTERSIGN_QUEUE_URL: queueUrl };
    const redrive = cliIO(env, () => stub);
    expect(await queueRedriveCommand({ all: true }, redrive.io)).toBe(0);
    expect(moves).toEqual([
      {
        SourceArn: expect.stringMatching(new RegExp(`:${name}-dlq\\.fifo$`)) as string,
        DestinationArn: expect.stringMatching(new RegExp(`:${name}\\.fifo$`)) as string,
      },
    ]);
    expect(redrive.stdout.text()).toContain('(task task-1)');
  });
});
