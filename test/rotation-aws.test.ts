// Issue 18 on AWS APIs (moto): rotating the requester's KMS key by the runbook in
// infra/README.md while messages signed by the old key are still queued.
//
//   1. v1 behind the alias; the gateway trusts the alias. Orders signed by v1 are queued.
//   2. v2 created and trusted beside the alias (publish before use), the gateway restarted on
//      that configuration; the alias moved to v2; a requester started now signs with v2.
//   3. The gateway drains the queue: every v1 and v2 order executes once, none is rejected.
//   4. v1 retired (its ARN with `exp`): a token v1 signs after that is REJECTED KEY_RETIRED.
//   5. Audit replays the archive: clean, v1's requests verified as of their own time.
// The alias-only path: one gateway worker trusting only the alias runs through the move; it
// reads the alias again at v2's first unknown kid and keeps v1 as the previous target.
// And a requester and a gateway signing through aliases keep running across both alias moves:
// their signers follow them (createKmsAliasSigner), the receipts of both gateway keys audit clean.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CreateKeyCommand, KMSClient, UpdateAliasCommand } from '@aws-sdk/client-kms';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  AuditReport,
  clientOrderIdOf,
  parseConfig,
  type CountersignConfig,
} from '@countersign/contracts';
import { createAuditFromConfig } from '@countersign/audit';
import {
  createGatewayFromConfig,
  createWorker,
  silentLogger,
  type PaperExchange,
} from '@countersign/exchange-gateway';
import { createRequesterFromConfig } from '@countersign/requester';
import { createKmsAliasSigner, createKmsClient, type KmsAliasSigner } from '@countersign/signing';
import { clientConfig } from './support/aws.ts';
import { createAwsStack, type AwsStack } from './support/aws-stack.ts';
import { until } from './support/receipts.ts';

const REQUESTER = 'req-rot';
const ACCOUNTS = ['acct-1', 'acct-2', 'acct-3', 'acct-4'];

function configOf(
  stack: AwsStack,
  requesterKeys: readonly object[],
  env: Record<string, string> = {},
): CountersignConfig {
  return parseConfig({
    env: {
      ...stack.env,
      ...env,
      COUNTERSIGN_DATA_DIR: mkdtempSync(join(tmpdir(), 'cs-rotation-aws-')),
      COUNTERSIGN_LOG_LEVEL: 'silent',
      COUNTERSIGN_REQUESTER_ID: REQUESTER,
      COUNTERSIGN_REQUESTER_KMS_KEY_ID: `alias/${stack.name}/requester`,
      COUNTERSIGN_REQUESTER_PUBLIC_KEYS: JSON.stringify(requesterKeys),
      COUNTERSIGN_POLICIES: JSON.stringify([
        {
          id: REQUESTER,
          accounts: ACCOUNTS,
          symbols: ['BTC-USD'],
          maxNotional: '1000000',
          maxOrdersPerMinute: 100_000,
        },
      ]),
    },
    part: 'all',
  });
}

// A receive a stopped drain's worker left in flight may take the next drain's order for the
// queue's visibility timeout (moto, like SQS, hands it to the abandoned poll): keep that short.
const SHORT_VISIBILITY = { visibilityTimeoutSec: 2 };

const order = (i: number) => ({
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: `0.0${(i % 9) + 1}`,
  limitPrice: '100',
  timeInForce: 'GTC',
});

const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

async function submit(config: CountersignConfig, from: number, n: number) {
  const wired = await createRequesterFromConfig(config);
  const sent = [];
  for (let i = from; i < from + n; i++) {
    sent.push(await wired.requester.submit(order(i), { account: ACCOUNTS[i % ACCOUNTS.length] }));
  }
  await wired.close();
  return { kid: wired.signer.kid, sent };
}

type Answer = { outcome: string; reason?: string | undefined };

type Gateway = Awaited<ReturnType<typeof createGatewayFromConfig>>;

/**
 * A worker of `gw`, running until stopped; the outcome of each message it answered, by message
 * id. Under the 2 s visibility timeout a slow first attempt can see its message delivered again;
 * the second answer republishes the same receipt, so it counts once. `gate` is awaited before
 * each message is processed (the worker keeps receiving; what it took waits in flight).
 */
function startWorker(gw: Gateway, gate: () => Promise<void> = () => Promise.resolve()) {
  const byMessage = new Map<string, Answer>();
  const worker = createWorker({
    queue: gw.queue,
    processor: {
      prefetch: (m) => gw.processor.prefetch(m),
      reconcileUnknown: () => gw.processor.reconcileUnknown(),
      process: async (m) => {
        await gate();
        const r = await gw.processor.process(m);
        if (r.action === 'delete') {
          byMessage.set(m.messageId, { outcome: r.outcome, reason: r.reason });
        }
        return r;
      },
    },
    concurrency: 4,
    waitMs: 200,
    visibilityTimeoutSec: 30,
    reconcileIntervalMs: 0,
  });
  const work = worker.run();
  return {
    byMessage,
    async stop() {
      await worker.stop();
      await work;
    },
  };
}

/** One gateway on `config` until it answered `expected` messages; their outcomes. */
async function drain(
  config: CountersignConfig,
  expected: number,
  running?: Gateway,
): Promise<Answer[]> {
  const gw = running ?? (await createGatewayFromConfig(config, { logger: silentLogger }));
  const worker = startWorker(gw);
  await until(() => worker.byMessage.size >= expected, 60_000, 'the queue to drain');
  await worker.stop();
  if (!running) await gw.close();
  return [...worker.byMessage.values()];
}

/** Live audit of the stack's audit queue until it is empty. */
async function auditLive(config: CountersignConfig, sqs: SQSClient, queueUrl: string) {
  const audit = createAuditFromConfig(config);
  await audit.preflight();
  const controller = new AbortController();
  const running = audit.live({ signal: controller.signal });
  const left = async () => {
    const a = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(a.Attributes?.ApproximateNumberOfMessages ?? 1) +
      Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 1)
    );
  };
  for (let i = 0; i < 300 && (await left()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
  controller.abort();
  const report = AuditReport.parse(await running);
  await audit.close();
  return report;
}

describe('requester key rotation on AWS APIs (moto)', () => {
  it('moves the alias while v1 orders are queued: nothing rejected, a late v1 token KEY_RETIRED, audit clean', async () => {
    const stack = await createAwsStack(SHORT_VISIBILITY);
    const kms = new KMSClient(clientConfig());
    const sqs = new SQSClient(clientConfig());
    const alias = `alias/${stack.name}/requester`;

    // 1. v1 signs through the alias; its orders wait in the queue.
    const v1 = await submit(configOf(stack, [{ kms: alias }]), 0, 12);

    // 2. v2 trusted beside the alias first (publish before use), then the alias moves to it.
    const v2Key = await kms.send(
      new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
    );
    const v2Id = v2Key.KeyMetadata!.KeyId!;
    await kms.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: v2Id }));
    // A requester started after the move signs with v2.
    const v2 = await submit(configOf(stack, [{ kms: alias }, { kms: v2Id }]), 12, 12);
    expect(v2.kid).not.toBe(v1.kid);

    // 3. A gateway started after the move knows v1 from its explicit entry (the runbook keeps
    //    the previous key listed for max token lifetime + skew): all 24 execute, none rejected.
    const answers = await drain(
      configOf(stack, [{ kms: alias }, { kms: v2Id }, { kms: stack.requesterKeyId }]),
      24,
    );
    expect(answers).toEqual(Array.from({ length: 24 }, () => ({ outcome: 'EXECUTED' })));

    // 4. v1 retired now. A requester still pinned to v1 signs one more order: KEY_RETIRED.
    const retiredAt = Math.floor(Date.now() / 1000);
    const retired = configOf(stack, [
      { kms: alias },
      { kms: v2Id },
      { kms: stack.requesterKeyId, exp: retiredAt },
    ]);
    const late = await submit(
      { ...retired, requester: { ...retired.requester, kmsKeyId: stack.requesterKeyId } },
      24,
      1,
    );
    expect(late.kid).toBe(v1.kid);
    expect(await drain(retired, 1)).toEqual([{ outcome: 'REJECTED', reason: 'KEY_RETIRED' }]);

    // 5. Audit of every receipt: v1's requests verify as of their own time; clean.
    const report = await auditLive(retired, sqs, stack.auditQueueUrl);
    expect(report.findings).toEqual([]);
    expect(report.summary.receipts).toBe(25);
    expect(report.summary.byOutcome).toMatchObject({ EXECUTED: 24, REJECTED: 1 });
  }, 240_000);

  it('one gateway worker trusting only the alias runs through the move: v2 learnt at its first unknown kid, v1 kept, every order executed once', async () => {
    const stack = await createAwsStack(SHORT_VISIBILITY);
    const kms = new KMSClient(clientConfig());
    const sqs = new SQSClient(clientConfig());
    const alias = `alias/${stack.name}/requester`;
    // Only the alias, with its defaults: no v2 published before use, no restart. v2's first
    // unknown kid makes the gateway read the alias again (at once, or at the end of the 5 s
    // unknown-kid interval: the order waits, it is not refused); the 5 min schedule never fires.
    const config = configOf(stack, [{ kms: alias }]);
    const gateway = await createGatewayFromConfig(config, { logger: silentLogger });
    let release: () => void = () => undefined;
    let held: Promise<void> | undefined;
    let waiting = 0;
    const worker = startWorker(gateway, async () => {
      if (!held) return;
      waiting++;
      await held;
      waiting--;
    });
    try {
      // 1. v1 traffic through the running worker: the gateway has read the alias (v1).
      const v1a = await submit(config, 0, 4);
      await until(() => worker.byMessage.size >= 4, 60_000, 'the first v1 orders');

      // 2. The worker stops consuming: the next v1 orders wait, taken (in flight) or queued.
      held = new Promise((r) => (release = r));
      const v1b = await submit(config, 4, 12);
      expect(v1b.kid).toBe(v1a.kid);
      await until(() => waiting > 0, 30_000, 'the worker to take a v1 order');
      const left = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: stack.queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      expect(Number(left.Attributes?.ApproximateNumberOfMessages)).toBeGreaterThan(0);

      // 3. v2 created and the alias moved while the worker runs; a requester started now signs v2.
      const v2Key = await kms.send(
        new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
      );
      await kms.send(
        new UpdateAliasCommand({ AliasName: alias, TargetKeyId: v2Key.KeyMetadata!.KeyId! }),
      );
      const v2 = await submit(config, 16, 12);
      expect(v2.kid).not.toBe(v1a.kid);

      // 4. The same worker consumes again: every v1 and v2 order executes, none is rejected.
      release();
      held = undefined;
      await until(() => worker.byMessage.size >= 28, 60_000, 'every order to be answered');
      const sent = [...v1a.sent, ...v1b.sent, ...v2.sent];
      expect(new Set(sent.map((s) => s.messageId)).size).toBe(28);
      expect([...worker.byMessage.keys()].sort()).toEqual(sent.map((s) => s.messageId).sort());
      expect([...worker.byMessage.values()]).toEqual(
        Array.from({ length: 28 }, () => ({ outcome: 'EXECUTED' })),
      );
      // Exactly once at the exchange: one ledger row per order, each order's own client id.
      const paper = gateway.exchange as PaperExchange;
      const ledger = await paper.listOrders({ from: 0, to: Date.now() + 60_000 });
      expect(paper.executions()).toBe(28);
      expect(ledger.map((o) => o.clientOrderId).sort()).toEqual(
        sent.map((s) => clientOrderIdOf(REQUESTER, s.jti)).sort(),
      );
    } finally {
      release();
      await worker.stop();
      await gateway.close();
    }

    // 5. Audit, started after the move, lists v1 explicitly (it never saw the alias name it).
    const audit = configOf(stack, [{ kms: alias }, { kms: stack.requesterKeyId }]);
    const report = await auditLive(audit, sqs, stack.auditQueueUrl);
    expect(report.findings).toEqual([]);
    expect(report.summary.receipts).toBe(28);
    expect(report.summary.byOutcome).toMatchObject({ EXECUTED: 28 });
  }, 240_000);

  it('a requester and a gateway running across their alias moves follow them without a restart; audit clean', async () => {
    const stack = await createAwsStack(SHORT_VISIBILITY);
    const kms = new KMSClient(clientConfig());
    const sqs = new SQSClient(clientConfig());
    const requesterAlias = `alias/${stack.name}/requester`;
    const gatewayAlias = `alias/${stack.name}/gateway`;
    const newKey = async () =>
      (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' })))
        .KeyMetadata!.KeyId!;
    const [v2, gw2] = [await newKey(), await newKey()];
    // The runbook: the new requester key is trusted before the alias moves (publish before
    // use), the old one stays listed; audit trusts the gateway alias and its previous target.
    const config = configOf(
      stack,
      [{ kms: requesterAlias }, { kms: stack.requesterKeyId }, { kms: v2 }],
      {
        COUNTERSIGN_GATEWAY_KMS_KEY_ID: gatewayAlias,
        COUNTERSIGN_GATEWAY_PUBLIC_KEYS: JSON.stringify([
          { kms: gatewayAlias },
          { kms: stack.gatewayKeyId },
        ]),
      },
    );
    // The signers the wiring builds for an alias, without the minute's wait before a switch.
    const follower = (keyId: string) =>
      createKmsAliasSigner({
        client: createKmsClient(clientConfig()),
        keyId,
        alg: 'ES256',
        switchDelayMs: 0,
      }) as Promise<KmsAliasSigner>;
    const requesterSigner = await follower(requesterAlias);
    const gatewaySigner = await follower(gatewayAlias);
    const requester = await createRequesterFromConfig(config, { signer: requesterSigner });
    const gateway = await createGatewayFromConfig(config, {
      logger: silentLogger,
      signer: gatewaySigner,
    });
    const submitOne = (i: number) =>
      requester.requester.submit(order(i), { account: ACCOUNTS[i % ACCOUNTS.length]! });

    const before = await submitOne(0);
    expect(await drain(config, 1, gateway)).toEqual([{ outcome: 'EXECUTED' }]);
    const gw1Kid = gatewaySigner.kid;
    await kms.send(new UpdateAliasCommand({ AliasName: requesterAlias, TargetKeyId: v2 }));
    await kms.send(new UpdateAliasCommand({ AliasName: gatewayAlias, TargetKeyId: gw2 }));
    // The minute's re-read, now: both follow their alias's new target.
    expect(await requesterSigner.refresh()).toBe(true);
    expect(await gatewaySigner.refresh()).toBe(true);
    const after = await submitOne(1);
    expect(kidOf(after.token)).not.toBe(kidOf(before.token));
    expect(requesterSigner.resolvedKeyId).toBe(v2);
    expect(await drain(config, 1, gateway)).toEqual([{ outcome: 'EXECUTED' }]);
    expect(gatewaySigner.resolvedKeyId).toBe(gw2);
    expect(gatewaySigner.kid).not.toBe(gw1Kid);
    await gateway.close();
    await requester.close();

    // Both receipts (one per gateway key) and both requests verify; the chain is whole.
    const report = await auditLive(config, sqs, stack.auditQueueUrl);
    expect(report.findings).toEqual([]);
    expect(report.summary.receipts).toBe(2);
    expect(report.summary.byOutcome).toMatchObject({ EXECUTED: 2 });
  }, 240_000);
});
