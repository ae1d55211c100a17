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

  it('restoreCompleted refuses a key that names a stream head (they share the table)', async () => {
    const store = createDynamoNonceStore({ client, tableName });
    const record = { stored: { receipt: 'r', request: null, messageId: 'm' }, expiresAt: 1 };
    await expect(store.restoreCompleted!('stream#gw/0', record)).rejects.toMatchObject({
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
