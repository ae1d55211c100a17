// Creates the nonce table for tests and local setup (infra/ creates it in AWS): on-demand
// capacity, `pk` as the string hash key, TTL on `ttl` (epoch seconds).
import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fromSdkError, storeError } from './errors.ts';

export async function createDynamoNonceTable(
  client: DynamoDBClient,
  tableName: string,
  options: { readonly timeoutMs?: number } = {},
): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
  } catch (err) {
    // Already there: just make sure it is active and has TTL.
    if ((err as { name?: unknown }).name !== 'ResourceInUseException') {
      throw fromSdkError('CreateTable', err);
    }
  }
  const deadline = (options.timeoutMs ?? 60_000) / 250;
  for (let i = 0; ; i++) {
    let status: string | undefined;
    try {
      status = (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table
        ?.TableStatus;
    } catch (err) {
      throw fromSdkError('DescribeTable', err);
    }
    if (status === 'ACTIVE') break;
    if (i >= deadline) throw storeError('the nonce table did not become ACTIVE', { tableName });
    await new Promise((r) => setTimeout(r, 250));
  }
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { Enabled: true, AttributeName: 'ttl' },
      }),
    );
  } catch (err) {
    // Enabling TTL twice fails with "TimeToLive is already enabled": fine.
    const message = err instanceof Error ? err.message : '';
    if (!/already enabled/i.test(message)) throw fromSdkError('UpdateTimeToLive', err);
  }
}
