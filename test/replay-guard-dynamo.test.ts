// The NonceStore contract against DynamoDB on moto, plus the DynamoDB-specific paths.
import {
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import { createDynamoNonceStore, createDynamoNonceTable } from '@countersign/replay-guard';
import { describeNonceStoreContract } from '@countersign/replay-guard/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { clientConfig, uniqueName } from './support/aws.ts';

let client: DynamoDBClient;
let tableName: string;

beforeAll(async () => {
  client = new DynamoDBClient(clientConfig());
  tableName = uniqueName('nonces');
  await createDynamoNonceTable(client, tableName);
});

describeNonceStoreContract('DynamoDB (moto)', () =>
  Promise.resolve({
    store: createDynamoNonceStore({ client, tableName }),
    // A new store object over the same table: the data must all be in DynamoDB.
    reopen: () => Promise.resolve(createDynamoNonceStore({ client, tableName })),
    // moto's threaded server does not serialize racing conditional writes (real DynamoDB does).
    serializesConcurrentWrites: false,
  }),
);

describe('createDynamoNonceStore on moto', () => {
  it('the table has TTL on `ttl`, and claim writes ttl in epoch seconds', async () => {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    expect(ttl.TimeToLiveDescription).toMatchObject({
      TimeToLiveStatus: 'ENABLED',
      AttributeName: 'ttl',
    });
    const store = createDynamoNonceStore({ client, tableName });
    await store.claim('iss#ttl-check', {
      expiresAt: 1_800_000_000_500,
      leaseMs: 1000,
      owner: 'a',
      now: 1_800_000_000_000,
    });
    const item = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: 'iss#ttl-check' } },
        ConsistentRead: true,
      }),
    );
    expect(item.Item?.ttl).toEqual({ N: '1800000001' });
    expect(item.Item?.state).toEqual({ S: 'IN_PROGRESS' });
  });

  it('restoreCompleted (recover-head) writes an absent or IN_PROGRESS key, never a COMPLETED one', async () => {
    const store = createDynamoNonceStore({ client, tableName });
    const now = 1_800_000_000_000;
    const record = (receipt: string) => ({
      stored: { receipt, request: null, messageId: `m-${receipt}` },
      expiresAt: now + 60_000,
      requestSha256: 'sha-x',
    });
    // Absent: written, and a redelivery of the key now finds it COMPLETED (no second execution).
    expect(await store.restoreCompleted!('iss#restore-absent', record('r1'))).toBe(true);
    const claim = await store.claim('iss#restore-absent', {
      expiresAt: now + 60_000,
      leaseMs: 1000,
      owner: 'gw',
      now,
    });
    expect(claim).toMatchObject({
      claimed: false,
      existing: {
        state: 'COMPLETED',
        stored: { receipt: 'r1', request: null, messageId: 'm-r1' },
        requestSha256: 'sha-x',
      },
    });
    // COMPLETED already: never replaced.
    expect(await store.restoreCompleted!('iss#restore-absent', record('r2'))).toBe(false);
    expect(await store.get('iss#restore-absent')).toMatchObject({ stored: { receipt: 'r1' } });
    // A claim left IN_PROGRESS (its lease run out): replaced, so no takeover executes it again.
    await store.claim('iss#restore-claimed', {
      expiresAt: now + 60_000,
      leaseMs: 1,
      owner: 'gw',
      now,
    });
    expect(await store.restoreCompleted!('iss#restore-claimed', record('r3'))).toBe(true);
    expect(
      await store.claim('iss#restore-claimed', {
        expiresAt: now + 60_000,
        leaseMs: 1000,
        owner: 'other',
        now: now + 10_000,
      }),
    ).toMatchObject({ claimed: false, existing: { state: 'COMPLETED' } });
    // A stream head is not a nonce key.
    await expect(store.restoreCompleted!('stream#gw/0', record('r4'))).rejects.toMatchObject({
      code: 'STORE_FAILED',
    });
  });

  it('creating the table twice is harmless', async () => {
    await expect(createDynamoNonceTable(client, tableName)).resolves.toBeUndefined();
  });

  it('converts a missing table into STORE_FAILED', async () => {
    const store = createDynamoNonceStore({ client, tableName: uniqueName('absent') });
    await expect(store.get('x')).rejects.toMatchObject({
      code: 'STORE_FAILED',
      details: { code: 'ResourceNotFoundException' },
    });
  });
});
