// The requester against moto: KMS signer (ES256, key never leaves KMS) + SQS FIFO queue, and its
// Idempotency-Key records in DynamoDB surviving a crashed requester process.
import { createPublicKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { jwtVerify } from 'jose';
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  type Message,
  type SendMessageBatchCommandOutput,
} from '@aws-sdk/client-sqs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { createKmsClient, createKmsSigner } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import { createSqsQueue } from '@countersign/transport';
import {
  IDEMPOTENCY_LEASE_MS,
  createRequester,
  createRequesterFromConfig,
  createRequesterServiceFromConfig,
  generateApiKey,
} from '@countersign/requester';
import { parseConfig } from '@countersign/contracts';
import {
  GATEWAY_ID,
  REQUESTER_ID,
  createHarness,
  fakeClock,
} from '@countersign/exchange-gateway/testing';
import { decodeUnverified } from '@countersign/verifier';
import { clientConfig, uniqueName } from './support/aws.ts';
import { createAwsStack, createTtlTable, type AwsStack } from './support/aws-stack.ts';
import { postWithKey } from './support/requester-fixtures.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

const txn = {
  type: 'order',
  side: 'sell',
  symbol: 'ETH-USD',
  quantity: '1.5',
  limitPrice: '3100.25',
  timeInForce: 'IOC',
} as const;

const N = 1000;
let kms: KMSClient;
let sqs: SQSClient;
let keyId: string;
let signer: Signer;

async function fifoQueue(): Promise<string> {
  const out = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${uniqueName('requests')}.fifo`,
      Attributes: { FifoQueue: 'true', VisibilityTimeout: '60' },
    }),
  );
  return out.QueueUrl!;
}

/** Receives and deletes until `until()` says stop and the queue stays empty. */
async function drainQueue(queueUrl: string, until: () => boolean = () => true): Promise<Message[]> {
  const all: Message[] = [];
  let emptyPolls = 0;
  while (emptyPolls < 2 || !until()) {
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const msgs = got.Messages ?? [];
    if (msgs.length === 0) {
      emptyPolls = until() ? emptyPolls + 1 : 0;
      if (!until()) await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    emptyPolls = 0;
    all.push(...msgs);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return all;
}

beforeAll(async () => {
  kms = new KMSClient(clientConfig());
  sqs = new SQSClient(clientConfig());
  const key = await kms.send(
    new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
  );
  keyId = key.KeyMetadata!.KeyId!;
  signer = await createKmsSigner({
    client: createKmsClient(clientConfig()),
    keyId,
    alg: 'ES256',
    maxConcurrency: 4,
  });
});

function requesterOn(queueUrl: string, client: SQSClient = sqs) {
  return createRequester({
    signer,
    queue: createSqsQueue({ client, queueUrl, maxReceives: 5, baseDelayMs: 5 }),
    issuer: 'bot-aws',
    audience: 'gw-aws',
    lifetimeSec: 120,
    clock: { now: () => Date.now() },
    signConcurrency: 4,
  });
}

describe('requester on moto (KMS + SQS FIFO)', () => {
  it('enqueues a token that jose verifies with the KMS public key; group = account, dedup = jti', async () => {
    const queueUrl = await fifoQueue();
    const before = Math.floor(Date.now() / 1000);
    const out = await requesterOn(queueUrl).submit(txn, { account: 'acct-42' });

    const [msg, ...rest] = await drainQueue(queueUrl);
    expect(rest).toHaveLength(0);
    expect(msg!.MessageId).toBe(out.messageId);
    expect(msg!.Body).toBe(out.token);
    expect(msg!.Attributes?.MessageGroupId).toBe('acct-42');
    expect(msg!.Attributes?.MessageDeduplicationId).toBe(out.jti);

    // The public key straight from KMS, not from our signer.
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    const publicKey = createPublicKey({
      key: Buffer.from(pub.PublicKey!),
      format: 'der',
      type: 'spki',
    });
    const { payload, protectedHeader } = await jwtVerify(msg!.Body!, publicKey, {
      algorithms: ['ES256'],
      typ: 'txn+jwt',
      issuer: 'bot-aws',
      audience: 'gw-aws',
    });
    expect(protectedHeader.kid).toBe(signer.kid);
    expect(payload).toEqual({
      iss: 'bot-aws',
      sub: 'acct-42',
      aud: 'gw-aws',
      iat: payload.iat,
      nbf: payload.iat,
      exp: payload.iat! + 120,
      jti: out.jti,
      txn,
    });
    expect(payload.iat).toBeGreaterThanOrEqual(before);
  });

  it('submitMany of 1,000 arrives complete, without duplicates', async () => {
    const queueUrl = await fifoQueue();
    const items = Array.from({ length: N }, (_, i) => ({
      account: `acct-${i % 8}`,
      txn: { ...txn, clientRef: `ref-${i}` },
    }));
    let lastProgress = 0;
    // moto's FIFO queue slows down as it grows (each send and receive scans the queue), so
    // a consumer drains it while the requester sends, as the gateway would.
    let sending = true;
    const draining = drainQueue(queueUrl, () => !sending);

    const results = await requesterOn(queueUrl)
      .submitMany(items, { onProgress: (done) => (lastProgress = done) })
      .finally(() => (sending = false));
    expect(lastProgress).toBe(N);
    const failed = results.filter((r) => !r.ok);
    expect(failed).toEqual([]);

    const msgs = await draining;
    expect(msgs).toHaveLength(N);
    const ids = new Set(msgs.map((m) => m.Attributes?.MessageDeduplicationId));
    expect(ids.size).toBe(N);
    const jtis = new Set(results.map((r) => (r.ok ? r.jti : '')));
    expect(ids).toEqual(jtis);
    // Per account, the queue hands the requests out in the order they were given.
    const refs = new Map<string, number[]>();
    for (const m of msgs) {
      // With batch signing (the aws default) a body may be a batch item, not a compact JWS.
      const claims = decodeUnverified(m.Body!) as { sub: string; txn: { clientRef: string } };
      const list = refs.get(claims.sub) ?? [];
      list.push(Number(claims.txn.clientRef.slice(4)));
      refs.set(claims.sub, list);
    }
    for (const list of refs.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
  }, 180_000); // moto answers a few hundred calls/s, less on a busy shared machine

  it('retries an SQS batch entry failure (stub in front of moto: moto never fails an entry)', async () => {
    const queueUrl = await fifoQueue();
    // The stub forwards to moto but reports the "flaky" account's entries as failed (a server
    // fault, retryable) the first time it sees them, as real SQS can under load.
    const seen = new Set<string>();
    const calls: number[] = [];
    const stub = {
      send: async (command: unknown, options?: unknown) => {
        if (!(command instanceof SendMessageBatchCommand))
          return sqs.send(command as never, options as never);
        const entries = command.input.Entries ?? [];
        calls.push(entries.length);
        const failNow = entries.filter(
          (e) => e.MessageGroupId === 'flaky' && !seen.has(e.MessageDeduplicationId!),
        );
        failNow.forEach((e) => seen.add(e.MessageDeduplicationId!));
        const forward = entries.filter((e) => !failNow.includes(e));
        const out: SendMessageBatchCommandOutput = forward.length
          ? await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: forward }))
          : { $metadata: {}, Successful: [], Failed: [] };
        return {
          ...out,
          Failed: [
            ...(out.Failed ?? []),
            ...failNow.map((e) => ({
              Id: e.Id,
              Code: 'InternalError',
              SenderFault: false,
              Message: 'try again',
            })),
          ],
        };
      },
    } as unknown as SQSClient;
    const items = Array.from({ length: 20 }, (_, i) => ({
      account: i % 5 === 0 ? 'flaky' : 'steady',
      txn,
    }));
    const results = await requesterOn(queueUrl, stub).submitMany(items);
    expect(results.every((r) => r.ok)).toBe(true);
    // 2 batches of 10, each with 2 flaky entries retried alone.
    expect(calls).toEqual([10, 2, 10, 2]);
    const msgs = await drainQueue(queueUrl);
    expect(msgs).toHaveLength(20);
    expect(new Set(msgs.map((m) => m.MessageId))).toEqual(
      new Set(results.map((r) => (r.ok ? r.messageId : ''))),
    );
  });

  it('reports a non-retryable entry failure on that entry only', async () => {
    const queueUrl = await fifoQueue();
    const stub = {
      send: async (command: unknown) => {
        const entries = (command as SendMessageBatchCommand).input.Entries ?? [];
        const bad = entries.filter((e) => e.MessageGroupId === 'refused');
        const out = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: entries.filter((e) => !bad.includes(e)),
          }),
        );
        return {
          ...out,
          Failed: bad.map((e) => ({
            Id: e.Id,
            Code: 'InvalidParameterValue',
            SenderFault: true,
            Message: 'no',
          })),
        };
      },
    } as unknown as SQSClient;
    const results = await requesterOn(queueUrl, stub).submitMany([
      { account: 'fine', txn },
      { account: 'refused', txn },
      { account: 'fine', txn },
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    expect(results[1]).toMatchObject({
      code: 'QUEUE_FAILED',
      message: expect.stringContaining('InvalidParameterValue'),
    });
    expect(await drainQueue(queueUrl)).toHaveLength(2);
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }),
    );
    expect(attrs.Attributes?.FifoQueue).toBe('true');
  });

  it('wires itself from aws-mode configuration (KMS key id + queue URL)', async () => {
    const queueUrl = await fifoQueue();
    const idempotencyTable = uniqueName('idempotency');
    // The requester remembers each order it signs there (txn# items) before it is sent.
    await createTtlTable(new DynamoDBClient(clientConfig()), idempotencyTable);
    const config = parseConfig({
      env: {
        COUNTERSIGN_MODE: 'aws',
        COUNTERSIGN_REQUESTER_ID: 'bot-config',
        COUNTERSIGN_GATEWAY_ID: 'gw-config',
        COUNTERSIGN_REQUESTER_KMS_KEY_ID: keyId,
        // Required in aws mode: receipts are verified with it (not used by this case).
        COUNTERSIGN_GATEWAY_KMS_KEY_ID: keyId,
        COUNTERSIGN_QUEUE_URL: queueUrl,
        // Required in aws mode; the records in it are exercised by the crash cases below.
        COUNTERSIGN_IDEMPOTENCY_TABLE: idempotencyTable,
      },
      part: 'requester',
    });
    // The SDK clients are built by the wiring and find moto through AWS_ENDPOINT_URL.
    const wired = await createRequesterFromConfig(config);
    expect(wired.signer.kid).toBe(signer.kid);
    const out = await wired.requester.submit(txn, { account: 'acct-cfg' });
    const [msg] = await drainQueue(queueUrl);
    expect(msg!.Body).toBe(out.token);
    expect(msg!.Attributes?.MessageGroupId).toBe('acct-cfg');
    const claims = JSON.parse(Buffer.from(out.token.split('.')[1]!, 'base64url').toString()) as {
      iss: string;
      aud: string;
    };
    expect(claims).toMatchObject({ iss: 'bot-config', aud: 'gw-config' });
    await wired.close();
  });
});

describe('an Idempotency-Key retry after a requester crash, on DynamoDB + SQS FIFO (moto)', () => {
  const bot = generateApiKey('bot-aws', ['acct-1', 'acct-2', 'acct-3']);
  let stack: AwsStack;
  let env: Record<string, string>;
  let stackSigner: Signer;
  beforeAll(async () => {
    stack = await createAwsStack();
    // What the requester Lambda gets from the stack, plus its API key.
    env = {
      ...stack.env,
      COUNTERSIGN_REQUESTER_ID: REQUESTER_ID,
      COUNTERSIGN_GATEWAY_ID: GATEWAY_ID,
      COUNTERSIGN_TOKEN_LIFETIME_SEC: '120',
      COUNTERSIGN_API_KEYS: JSON.stringify([bot.entry]),
    };
    stackSigner = await createKmsSigner({
      client: createKmsClient(clientConfig()),
      keyId: stack.requesterKeyId,
      alg: 'ES256',
    });
  });

  /** The first requester, in its own process, until it is killed after the enqueue. */
  async function crashAfterEnqueue(nowMs: number, request: object): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'test', 'support', 'requester-aws-crash-child.ts'),
        `${nowMs}`,
      ],
      { cwd: root, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<NodeJS.Signals | null>((done) =>
      child.once('exit', (_code, signal) => done(signal)),
    );
    child.stdin.end(JSON.stringify({ apiKey: bot.key, ...request }));
    expect(await exited, out).toBe('SIGKILL');
  }

  it.each([
    ['/v1/transactions', 'aws-single', { account: 'acct-1', txn }, 1],
    [
      '/v1/transactions:batch',
      'aws-batch',
      { items: ['acct-1', 'acct-2', 'acct-3'].map((account) => ({ account, txn })) },
      3,
    ],
  ] as const)(
    '%s: another requester resumes the same jti(s) from DynamoDB; SQS dedups the resend; one execution each',
    async (path, key, body, orders) => {
      const h = await createHarness({ requesterSigner: stackSigner, clock: fakeClock() });
      await crashAfterEnqueue(h.clock.now(), { path, body, key });

      // A retry after the lease reaches another requester (another container): the same table.
      h.clock.advance(IDEMPOTENCY_LEASE_MS);
      const other = await createRequesterServiceFromConfig(
        parseConfig({ env: { ...env, COUNTERSIGN_LOG_LEVEL: 'silent' }, part: 'requester' }),
        { clock: h.clock },
      );
      const post = () => postWithKey(other.app, { apiKey: bot.key, path, body, key });
      const retry = await post();
      expect(retry.status).toBe(202);
      const answer = (await retry.json()) as { jti?: string; items?: { jti: string }[] };
      const jtis = answer.items ? answer.items.map((i) => i.jti) : [answer.jti!];

      // One message per jti: the resend carried the crashed process's tokens (same dedup ids).
      const msgs = await drainQueue(stack.queueUrl);
      expect(msgs.map((m) => m.Attributes?.MessageDeduplicationId).sort()).toEqual(
        [...jtis].sort(),
      );
      expect(msgs.map((m) => decodeUnverified(m.Body!)?.jti).sort()).toEqual([...jtis].sort());
      if (orders > 1) {
        // Batch signing is on by default in aws mode: one batch call, one head over its items.
        const heads = msgs.map((m) => (JSON.parse(m.Body!) as { batch: string }).batch);
        expect(new Set(heads).size).toBe(1);
        expect(heads[0]!.split('.')).toHaveLength(3);
      }
      for (const m of msgs) {
        const r = await h.processor.process(
          h.message(m.Body!, { messageId: m.MessageId!, groupId: m.Attributes?.MessageGroupId }),
        );
        expect(r).toMatchObject({ action: 'delete', outcome: 'EXECUTED' });
      }
      expect(h.exchange.executions!()).toBe(orders);

      // Answered now: the next retry replays it, and the record keeps no token.
      const again = await post();
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await again.json()).toEqual(answer);
      const item = await new DynamoDBClient(clientConfig()).send(
        new GetItemCommand({
          TableName: stack.idempotencyTableName,
          Key: { pk: { S: JSON.stringify([bot.entry.name, key]) } },
          ConsistentRead: true,
        }),
      );
      expect(item.Item?.fixed).toBeUndefined();
      expect(JSON.parse(item.Item!.response!.S!)).toEqual({ status: 202, body: answer });
      await other.close();
    },
    60_000,
  );
});
