// The moto deployment used by the end-to-end tests holds together: a receipt-shaped event put
// on the bus reaches the audit queue through the rule, the archive exists, and both tables
// (nonces, idempotency records) have TTL on `ttl`.
import { describe, expect, it } from 'vitest';
import {
  DescribeArchiveCommand,
  EventBridgeClient,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DescribeTimeToLiveCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parseConfig } from '@countersign/contracts';
import { clientConfig } from './support/aws.ts';
import { createAwsStack } from './support/aws-stack.ts';

describe('moto deployment for end-to-end tests', () => {
  it('wires bus → rule → audit queue, archive, keys, and a valid aws-mode config', async () => {
    const stack = await createAwsStack();
    const cfg = parseConfig({ env: stack.env, part: 'all' });
    expect(cfg.mode).toBe('aws');
    expect(cfg.nonce.table).toBe(stack.tableName);
    expect(cfg.requester.idempotencyTable).toBe(stack.idempotencyTableName);
    const ddb = new DynamoDBClient(clientConfig());
    for (const table of [stack.tableName, stack.idempotencyTableName]) {
      const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: table }));
      expect(ttl.TimeToLiveDescription, table).toMatchObject({
        TimeToLiveStatus: 'ENABLED',
        AttributeName: 'ttl',
      });
    }

    const kms = new KMSClient(clientConfig());
    const key = await kms.send(new DescribeKeyCommand({ KeyId: `alias/${stack.name}/gateway` }));
    expect(key.KeyMetadata?.KeyId).toBe(stack.gatewayKeyId);
    expect(key.KeyMetadata?.KeyUsage).toBe('SIGN_VERIFY');

    const eb = new EventBridgeClient(clientConfig());
    const archive = await eb.send(new DescribeArchiveCommand({ ArchiveName: stack.archiveName }));
    expect(archive.ArchiveArn).toBe(stack.archiveArn);

    const put = await eb.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: stack.busName,
            Source: 'countersign.gateway',
            DetailType: 'TransactionReceipt',
            Detail: JSON.stringify({ receipt: 'a.b.c', request: null, messageId: 'm-1' }),
          },
        ],
      }),
    );
    expect(put.FailedEntryCount).toBe(0);
    const sqs = new SQSClient(clientConfig());
    const got = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.auditQueueUrl, WaitTimeSeconds: 2 }),
    );
    expect(got.Messages).toHaveLength(1);
    expect(JSON.parse(got.Messages![0]!.Body!)).toMatchObject({
      'detail-type': 'TransactionReceipt',
      detail: { messageId: 'm-1' },
    });
  });
});
