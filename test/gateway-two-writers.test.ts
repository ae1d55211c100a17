// Issue 16 item 3: two gateway workers writing one stream (two processes on one data directory,
// two Lambda containers) must keep the receipt chain intact. Two gateways (createGatewayFromConfig
// without the role lock) drain one queue into one stream (P = 1), on the embedded adapters and on
// moto (SQS FIFO + DynamoDB + KMS + EventBridge); the audit then replays the archive: clean.
// CHAIN_CONFLICT is the expected, handled event of two writers: never an error log.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  AuditReport,
  embeddedPaths,
  parseConfig,
  ReceiptEventDetail,
  TokenTypes,
  type CountersignConfig,
} from '@countersign/contracts';
import { createAuditFromConfig, createAuditVerifiers } from '@countersign/audit';
import { signJwt, type Signer } from '@countersign/signing';
import {
  createSqliteEventBus,
  createSqliteQueue,
  createSqsQueue,
  parseEventBridgeEnvelope,
  type OutgoingMessage,
  type Queue,
} from '@countersign/transport';
import { staticKeys } from '@countersign/verifier';
import {
  createGatewayFromConfig,
  createPaperExchange,
  createWorker,
  type Gateway,
  type GatewayOverrides,
  type Logger,
} from '@countersign/exchange-gateway';
import { newEs256Signer } from '@countersign/exchange-gateway/testing';
import { createAwsStack } from './support/aws-stack.ts';
import { clientConfig } from './support/aws.ts';
import { expectChainsIntact, until, verifiedReceipts } from './support/receipts.ts';

const GW = 'gw-two';
const BOT = 'bot-two';
const ACCOUNTS = Array.from({ length: 8 }, (_, i) => `acct-${i + 1}`);

const policies = (requester: Signer) =>
  JSON.stringify([
    {
      id: BOT,
      accounts: ACCOUNTS,
      symbols: ['BTC-USD'],
      maxNotional: '1000000',
      maxOrdersPerMinute: 100_000,
      jwks: { keys: [requester.publicJwk] },
    },
  ]);

async function orders(requester: Signer, n: number): Promise<OutgoingMessage[]> {
  const iat = Math.floor(Date.now() / 1000);
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const sub = ACCOUNTS[i % ACCOUNTS.length]!;
      const jti = randomBytes(16).toString('base64url');
      const claims = { iss: BOT, sub, aud: GW, iat, nbf: iat, exp: iat + 300, jti };
      const txn = {
        type: 'order',
        side: 'buy',
        symbol: 'BTC-USD',
        quantity: '0.1',
        limitPrice: '100',
        timeInForce: 'GTC',
      };
      const body = await signJwt(requester, { ...claims, txn }, { typ: TokenTypes.REQUEST });
      return { body, groupId: sub, dedupId: jti };
    }),
  );
}

async function sendAll(queue: Queue, messages: readonly OutgoingMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const res = await queue.sendBatch(messages.slice(i, i + 10));
    expect(res.every((r) => r.ok)).toBe(true);
  }
}

/** The audit's verifiers for this gateway's and this requester's keys. */
const trusting = (gateway: Pick<Signer, 'publicJwk'>, requester: Signer) =>
  createAuditVerifiers({
    gatewayKeys: staticKeys({ keys: [gateway.publicJwk] }),
    requesterKeys: staticKeys({ keys: [requester.publicJwk] }),
    gateways: [GW],
    requesters: [BOT],
  });

/** A logger that keeps what the two gateways log at each level. */
function recordingLogger() {
  const lines: { level: keyof Logger; msg: string | undefined; obj: object }[] = [];
  const at =
    (level: keyof Logger) =>
    (obj: object, msg?: string): void =>
      void lines.push({ level, msg, obj });
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
  return { logger, lines };
}

/** Two gateways on one configuration, each with its worker, until `drained`. */
async function runTwo(
  config: CountersignConfig,
  overrides: (i: number) => GatewayOverrides,
  drained: (gateways: readonly Gateway[]) => Promise<boolean>,
): Promise<Gateway[]> {
  const gateways = [
    await createGatewayFromConfig(config, overrides(0)),
    await createGatewayFromConfig(config, overrides(1)),
  ];
  const workers = gateways.map((gw) =>
    createWorker({
      queue: gw.queue,
      processor: gw.processor,
      concurrency: 8,
      waitMs: 200,
      visibilityTimeoutSec: config.queue.visibilityTimeoutSec,
      reconcileIntervalMs: 0,
    }),
  );
  const runs = workers.map((w) => w.run());
  try {
    await until(() => drained(gateways), 110_000, 'both gateways to drain the queue');
  } finally {
    for (const w of workers) await w.stop();
    await Promise.all(runs);
    for (const gw of gateways) await gw.close();
  }
  // Both took part: otherwise this would prove nothing about two writers.
  for (const w of workers) expect(w.counters().deleted).toBeGreaterThan(0);
  return gateways;
}

function expectConflictsHandledQuietly(lines: ReturnType<typeof recordingLogger>['lines']) {
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  // The two really raced on the stream; each conflict was logged at debug, without an error.
  const conflicts = lines.filter((l) => l.msg?.startsWith('chain conflict'));
  expect(conflicts.length).toBeGreaterThan(0);
  expect(conflicts.every((l) => l.level === 'debug' && !('err' in l.obj))).toBe(true);
}

describe('two gateway workers on one stream', () => {
  it('embedded (one data directory, SQLite): every order one receipt, the chain intact, the audit replay clean', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-two-'));
    const paths = embeddedPaths(dir);
    const requester = await newEs256Signer();
    const env = {
      COUNTERSIGN_DATA_DIR: dir,
      COUNTERSIGN_GATEWAY_ID: GW,
      COUNTERSIGN_PARTITIONS: '1',
      COUNTERSIGN_POLICIES: policies(requester),
      COUNTERSIGN_VISIBILITY_TIMEOUT_SEC: '10',
      COUNTERSIGN_CHECKPOINT_EVERY: '50',
    };
    const config = parseConfig({ env, part: 'gateway' });
    const messages = await orders(requester, 400);
    const queue = createSqliteQueue({
      path: paths.queueDb,
      visibilityTimeoutSec: 10,
      maxReceives: 5,
    });
    await sendAll(queue, messages);
    const { logger, lines } = recordingLogger();
    const gateways = await runTwo(
      config,
      () => ({ logger }),
      () => {
        const depth = queue.depth();
        return Promise.resolve(depth.visible === 0 && depth.inFlight === 0);
      },
    );
    await queue.close();
    expectConflictsHandledQuietly(lines);

    const bus = createSqliteEventBus({ path: paths.busDb });
    const events: ReceiptEventDetail[] = [];
    for await (const e of bus.read({})) events.push(ReceiptEventDetail.parse(e.detail));
    await bus.close();
    const receipts = await verifiedReceipts(events, gateways[0]!.signer.publicJwk, GW);
    expect(receipts).toHaveLength(messages.length);
    expect(receipts.every((r) => r.claims.outcome === 'EXECUTED')).toBe(true);
    expect(expectChainsIntact(receipts)).toBe(1);
    const exchange = createPaperExchange({ path: paths.exchangeDb });
    expect(exchange.executions()).toBe(messages.length);
    await exchange.close();

    // The audit of the whole archive, from genesis, against both gateways' checkpoints.
    const audit = createAuditFromConfig(parseConfig({ env, part: 'audit' }), {
      verifiers: trusting(gateways[0]!.signer, requester),
    });
    const report = AuditReport.parse(await audit.replay({}));
    await audit.close();
    expect(report.findings).toEqual([]);
    expect(report.summary).toMatchObject({ receipts: messages.length });
    expect(report.summary.streams).toEqual([
      expect.objectContaining({ stream: `${GW}/0`, lastSeq: messages.length }),
    ]);
  });

  it('moto (SQS FIFO, DynamoDB, KMS, EventBridge): the chain intact, the audit replay of the EventBridge archive clean', async () => {
    // A message the losing writer leaves comes back after the visibility timeout, and with one
    // stream they lose often: a short timeout keeps the run well inside the drain deadline.
    const stack = await createAwsStack({ visibilityTimeoutSec: 4 });
    const requester = await newEs256Signer();
    const env = {
      ...stack.env,
      COUNTERSIGN_GATEWAY_ID: GW,
      COUNTERSIGN_REQUESTER_ID: BOT,
      COUNTERSIGN_PARTITIONS: '1',
      COUNTERSIGN_POLICIES: policies(requester),
      COUNTERSIGN_VISIBILITY_TIMEOUT_SEC: '4',
    };
    const config = parseConfig({ env, part: 'gateway' });
    const messages = await orders(requester, 48);
    const { logger, lines } = recordingLogger();
    // moto's threaded server checks a conditional write and applies it without a lock, which
    // DynamoDB never does (the contract suite says so too): the writes of both gateways go to
    // moto one at a time, as DynamoDB would serialize them. Each gateway still reads the head,
    // signs on KMS and writes on its own, so they race on the stream as on AWS.
    const ddb = new DynamoDBClient(clientConfig());
    let writes: Promise<unknown> = Promise.resolve();
    const serialized = {
      send(command: { constructor: { name: string } }) {
        if (!/^(PutItem|UpdateItem|TransactWriteItems)Command$/.test(command.constructor.name))
          return ddb.send(command as never);
        const mine = writes.then(() => ddb.send(command as never));
        writes = mine.catch(() => undefined);
        return mine;
      },
    } as unknown as DynamoDBClient;
    const sqs = new SQSClient(clientConfig());
    const seen = new Map<string, ReceiptEventDetail>();
    /** Receipts that reached the rule's audit queue (EventBridge → SQS is asynchronous). */
    const collect = async () => {
      const res = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: stack.auditQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      const got = res.Messages ?? [];
      for (const m of got) {
        const detail = ReceiptEventDetail.parse(parseEventBridgeEnvelope(m.Body!).detail);
        seen.set(detail.receipt, detail);
      }
      if (got.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: stack.auditQueueUrl,
            Entries: got.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
      return seen.size;
    };
    const started = Date.now();
    await sendAll(
      createSqsQueue({ client: sqs, queueUrl: stack.queueUrl, maxReceives: 5 }),
      messages,
    );
    const gateways = await runTwo(
      config,
      () => ({
        logger,
        exchange: createPaperExchange(), // per container, in memory: dedups by client order id
        clients: { dynamodb: serialized },
      }),
      async () => (await collect()) >= messages.length,
    );
    expectConflictsHandledQuietly(lines);
    const receipts = await verifiedReceipts([...seen.values()], gateways[0]!.signer.publicJwk, GW);
    expect(receipts).toHaveLength(messages.length);
    expect(expectChainsIntact(receipts)).toBe(1);

    // The audit replays the bus's archive (StartReplay → the rule's queue) and proves the stream.
    const eb = new EventBridgeClient(clientConfig());
    const audit = createAuditFromConfig(parseConfig({ env, part: 'audit' }), {
      verifiers: trusting(gateways[0]!.signer, requester),
      eventBridge: eb,
      queue: createSqsQueue({ client: sqs, queueUrl: stack.auditQueueUrl, maxReceives: 10 }),
      checkpoints: { list: () => Promise.resolve([]) },
      state: {
        load: () => Promise.resolve(new Map()),
        save: () => Promise.resolve(),
      },
      replayQuietMs: 2000,
    });
    const report = AuditReport.parse(
      await audit.replay({ from: started - 60_000, to: Date.now() + 60_000 }),
    );
    await audit.close();
    expect(report.findings).toEqual([]);
    expect(report.summary).toMatchObject({ receipts: messages.length });
    expect(report.summary.streams).toEqual([
      expect.objectContaining({ stream: `${GW}/0`, lastSeq: messages.length }),
    ]);
  });
});
