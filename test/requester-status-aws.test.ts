// What happened to an order, on AWS APIs (moto): the orders' items in the requester's DynamoDB
// table (store contract), and the whole path: POST → the gateway worker executes it and puts the
// receipt on EventBridge → the requester's own rule and queue → verified with the gateway's KMS
// public key → stored → GET /v1/transactions/{jti}?wait= answers with the receipt. Forged receipts
// put on the bus, or handed to the receipts Lambda, are never stored or served.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calculateJwkThumbprint, jwtVerify, type JWK } from 'jose';
import { pino } from 'pino';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { parseConfig, systemClock, newJti } from '@countersign/contracts';
import { createKmsClient, createKmsSigner, createLocalSigner } from '@countersign/signing';
import {
  createDynamoTransactionStore,
  createRequesterServiceFromConfig,
  generateApiKey,
  startHttpServer,
  transactionPk,
  type RequesterService,
  type RunningServer,
} from '@countersign/requester';
import {
  describeTransactionStoreContract,
  gatewayKit,
  resignedUnderSameKid,
  tamperPayload,
  type GatewayKit,
} from '@countersign/requester/testing';
import { runGateway } from '@countersign/exchange-gateway';
import { clientConfig, uniqueName } from './support/aws.ts';
import { createAwsStack, createTtlTable, type AwsStack } from './support/aws-stack.ts';
import { SAMPLE_TXN as txn } from './support/requester-fixtures.ts';
import { until } from './support/receipts.ts';

const REFERENCE = new URL('../packages/contracts/reference/verify-batch-item.mjs', import.meta.url);
const { verifyBatchItem } = (await import(REFERENCE.href)) as {
  verifyBatchItem: (item: string, jwks: object, headTyp: string) => Promise<unknown>;
};

/** The KMS public key as a JWK with its RFC 7638 kid (what the gateway's tokens name). */
async function kmsJwk(key: ReturnType<typeof createPublicKey>): Promise<JWK> {
  const jwk = key.export({ format: 'jwk' }) as JWK;
  return { ...jwk, alg: 'ES256', kid: await calculateJwkThumbprint(jwk) };
}

const REQUESTER_ID = 'req-status';
const GATEWAY_ID = 'gw-status';

describe('DynamoDB orders (moto)', () => {
  const tableName = uniqueName('orders');
  const client = new DynamoDBClient(clientConfig());
  beforeAll(() => createTtlTable(client, tableName));

  describeTransactionStoreContract('DynamoDB', () => ({
    open: () => createDynamoTransactionStore({ tableName, clock: systemClock, client }),
    shared: true,
  }));

  it('keeps each order as a txn# item with a TTL in epoch seconds', async () => {
    const store = createDynamoTransactionStore({ tableName, clock: systemClock, client });
    const order = { iss: 'bot', jti: newJti(), account: 'acct-1' };
    await store.remember([order]);
    const { Item } = await client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: transactionPk(order) } } }),
    );
    expect(Item?.pk?.S).toBe(`txn#bot#${order.jti}`);
    const ttl = Number(Item?.ttl?.N);
    expect(ttl).toBeGreaterThan(Date.now() / 1000 + 13 * 24 * 3600);
    expect(ttl).toBeLessThan(Date.now() / 1000 + 15 * 24 * 3600);
  });
});

describe('order status end to end on AWS APIs (moto)', () => {
  const bot = generateApiKey('bot', ['acct-1']);
  const other = generateApiKey('other', ['acct-9']);
  let stack: AwsStack;
  let env: Record<string, string>;
  let service: RequesterService;
  let server: RunningServer;
  let gatewayKey: GatewayKit; // signs with the gateway's KMS key: genuine receipts
  let forger: GatewayKit; // claims the gateway's id with a key of its own
  const warnings: string[] = [];
  const stopGateway = new AbortController();
  let gatewayRun: Promise<unknown> | undefined;

  beforeAll(async () => {
    stack = await createAwsStack({ requesterReceipts: true });
    env = {
      ...stack.env,
      COUNTERSIGN_REQUESTER_ID: REQUESTER_ID,
      COUNTERSIGN_GATEWAY_ID: GATEWAY_ID,
      COUNTERSIGN_API_KEYS: JSON.stringify([bot.entry, other.entry]),
      COUNTERSIGN_POLICIES: JSON.stringify([
        { id: REQUESTER_ID, accounts: ['acct-1'], symbols: ['BTC-USD'], maxNotional: '100000' },
      ]),
      COUNTERSIGN_CONCURRENCY: '4',
      COUNTERSIGN_LOG_LEVEL: 'silent',
    };
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          warnings.push(chunk.toString());
          done();
        },
      }),
    );
    // The requester consumes its receipts queue itself (COUNTERSIGN_REQUESTER_RECEIPTS_QUEUE_URL).
    service = await createRequesterServiceFromConfig(parseConfig({ env, part: 'requester' }), {
      logger,
      statusPollMs: 200,
    });
    server = await startHttpServer(service.app, { host: '127.0.0.1', port: 0 });
    const kmsSigner = await createKmsSigner({
      client: createKmsClient(clientConfig()),
      keyId: stack.gatewayKeyId,
      alg: 'ES256',
    });
    gatewayKey = await gatewayKit(GATEWAY_ID, kmsSigner);
    forger = await gatewayKit(
      GATEWAY_ID,
      await createLocalSigner({
        privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
        alg: 'ES256',
      }),
    );
  }, 60_000);

  afterAll(async () => {
    stopGateway.abort();
    await gatewayRun;
    await server?.close();
    await service?.close();
  }, 60_000);

  const get = (jti: string, key = bot.key, query = '') =>
    fetch(`${server.url}/v1/transactions/${jti}${query}`, {
      headers: { authorization: `Bearer ${key}` },
    });

  it('POST, then GET ?wait= answers with the receipt the gateway signed in KMS', async () => {
    const posted = await fetch(`${server.url}/v1/transactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bot.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ account: 'acct-1', txn }),
    });
    expect(posted.status).toBe(202);
    const { jti } = (await posted.json()) as { jti: string };
    // Started once the order is queued: on moto, a worker already in a 20 s long poll of the FIFO
    // queue was seen to pick a new message up only when that poll ended.
    gatewayRun = runGateway({ env, signal: stopGateway.signal });
    // Remembered before the 202: found at once, from another API key's view it does not exist.
    expect((await get(jti, other.key)).status).toBe(404);
    const unknown = await get(newJti(), other.key);
    expect(unknown.status).toBe(404);

    const res = await get(jti, bot.key, '?wait=20');
    expect(res.status).toBe(200);
    const view = (await res.json()) as { status: string; outcome: string; receipt: string };
    expect(view).toMatchObject({ jti, status: 'receipted', outcome: 'EXECUTED' });
    // The receipt verifies with the gateway's public key straight from KMS.
    const pub = await new KMSClient(clientConfig()).send(
      new GetPublicKeyCommand({ KeyId: stack.gatewayKeyId }),
    );
    const key = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
    // Receipt batching is on in aws mode: then it is a batch item, checked with the contracts
    // README's reference verifier (jose + SHA-256) against the same key.
    const payload = view.receipt.startsWith('{')
      ? ((await verifyBatchItem(
          view.receipt,
          { keys: [await kmsJwk(key)] },
          'txn-receipt-batch+jwt',
        )) as Record<string, unknown>)
      : (
          await jwtVerify(view.receipt, key, {
            algorithms: ['ES256'],
            typ: 'txn-receipt+jwt',
            issuer: GATEWAY_ID,
          })
        ).payload;
    expect(payload.iss).toBe(GATEWAY_ID);
    expect(payload.req).toMatchObject({ jti, iss: REQUESTER_ID, sub: 'acct-1' });
  }, 60_000);

  it('a forged receipt put on the bus is never served; the genuine one is', async () => {
    const signed = await service.requester.sign(txn, { account: 'acct-1' }); // remembered, not sent
    const order = { iss: REQUESTER_ID, jti: signed.jti, account: 'acct-1' };
    const put = (kit: GatewayKit, receipt: string) =>
      new EventBridgeClient(clientConfig()).send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: stack.busName,
              Source: 'countersign.gateway',
              DetailType: 'TransactionReceipt',
              Detail: JSON.stringify(kit.event(receipt)),
            },
          ],
        }),
      );
    const forged = await forger.receipt(order, { outcome: 'EXECUTED' });
    const before = warnings.length;
    await put(forger, forged);
    await until(
      () => warnings.slice(before).some((w) => w.includes('failed verification')),
      30_000,
      'the requester to refuse the forged receipt',
    );
    expect(await (await get(signed.jti)).json()).toEqual({ jti: signed.jti, status: 'queued' });

    // The gateway's own receipt (signed with its KMS key) gets in; the long poll sees it.
    const waiting = get(signed.jti, bot.key, '?wait=20');
    const genuine = await gatewayKey.receipt(order, {
      outcome: 'FAILED',
      reason: 'EXCHANGE_REJECTED',
    });
    await put(gatewayKey, genuine);
    expect(await (await waiting).json()).toEqual({
      jti: signed.jti,
      status: 'receipted',
      outcome: 'FAILED',
      reason: 'EXCHANGE_REJECTED',
      receipt: genuine,
    });
  }, 60_000);

  it('the receipts Lambda stores what verifies with the gateway key, and nothing else', async () => {
    for (const [k, v] of Object.entries({ ...env, COUNTERSIGN_LOG_LEVEL: 'silent' })) {
      vi.stubEnv(k, v);
    }
    try {
      const { handler } = await import('../services/requester/src/receipts-lambda.ts');
      const a = await service.requester.sign(txn, { account: 'acct-1' });
      const b = await service.requester.sign(txn, { account: 'acct-1' });
      const envelope = (receipt: string) =>
        JSON.stringify({
          id: newJti(),
          time: new Date().toISOString(),
          source: 'countersign.gateway',
          'detail-type': 'TransactionReceipt',
          detail: gatewayKey.event(receipt),
        });
      const genuine = await gatewayKey.receipt(
        { iss: REQUESTER_ID, jti: a.jti, account: 'acct-1' },
        { outcome: 'REJECTED', reason: 'NOTIONAL_TOO_HIGH' },
      );
      const forged = await forger.receipt({ iss: REQUESTER_ID, jti: b.jti, account: 'acct-1' });
      // The genuine receipt retargeted at b, re-signed under the forger's key, the KMS kid kept.
      const resigned = await resignedUnderSameKid(
        tamperPayload(genuine, (p) => ({ ...p, req: { ...(p.req as object), jti: b.jti } })),
        forger.signer,
      );
      const records = [genuine, forged, resigned, 'not json'].map((body, i) => ({
        messageId: `m-${i}`,
        body: body === 'not json' ? body : envelope(body),
      }));
      const out = await handler({ Records: records } as never);
      expect(out).toEqual({ batchItemFailures: [] });
      expect(await (await get(a.jti)).json()).toEqual({
        jti: a.jti,
        status: 'receipted',
        outcome: 'REJECTED',
        reason: 'NOTIONAL_TOO_HIGH',
        receipt: genuine,
      });
      expect(await (await get(b.jti)).json()).toEqual({ jti: b.jti, status: 'queued' });
    } finally {
      vi.unstubAllEnvs();
    }
  }, 60_000);
});
