// Smoke test of the emulator harness: real SDK clients against moto, asserting on what comes back.
import { describe, expect, it } from 'vitest';
import {
  CreateKeyCommand,
  GetPublicKeyCommand,
  KMSClient,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { clientConfig, uniqueName } from './support/aws.ts';

describe('moto smoke', () => {
  it('signs with an asymmetric KMS key and the public key verifies locally', async () => {
    const kms = new KMSClient(clientConfig());
    const key = await kms.send(
      new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
    );
    const keyId = key.KeyMetadata!.KeyId!;
    const message = Buffer.from('countersign smoke');
    const signed = await kms.send(
      new SignCommand({
        KeyId: keyId,
        Message: message,
        MessageType: 'RAW',
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    // moto answers the deprecated CustomerMasterKeySpec field only; real KMS sends both.
    expect(pub.KeySpec ?? pub.CustomerMasterKeySpec).toBe('ECC_NIST_P256');
    expect(pub.KeyUsage).toBe('SIGN_VERIFY');
    const publicKey = createPublicKey({
      key: Buffer.from(pub.PublicKey!),
      format: 'der',
      type: 'spki',
    });
    expect(cryptoVerify('sha256', message, publicKey, Buffer.from(signed.Signature!))).toBe(true);
    expect(
      cryptoVerify('sha256', Buffer.from('other'), publicKey, Buffer.from(signed.Signature!)),
    ).toBe(false);
    const remote = await kms.send(
      new VerifyCommand({
        KeyId: keyId,
        Message: message,
        MessageType: 'RAW',
        Signature: signed.Signature,
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    expect(remote.SignatureValid).toBe(true);
  });

  it('round-trips a message through a FIFO queue with a DLQ', async () => {
    const sqs = new SQSClient(clientConfig());
    const name = uniqueName('smoke');
    const dlq = await sqs.send(
      new CreateQueueCommand({ QueueName: `${name}-dlq.fifo`, Attributes: { FifoQueue: 'true' } }),
    );
    const dlqArn = (
      await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }),
      )
    ).Attributes!.QueueArn!;
    const q = await sqs.send(
      new CreateQueueCommand({
        QueueName: `${name}.fifo`,
        Attributes: {
          FifoQueue: 'true',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 }),
        },
      }),
    );
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl, AttributeNames: ['All'] }),
    );
    expect(attrs.Attributes?.FifoQueue).toBe('true');
    expect(JSON.parse(attrs.Attributes!.RedrivePolicy!)).toMatchObject({
      deadLetterTargetArn: dlqArn,
    });

    await sqs.send(
      new SendMessageCommand({
        QueueUrl: q.QueueUrl,
        MessageBody: 'hello',
        MessageGroupId: 'acct-1',
        MessageDeduplicationId: 'd1',
      }),
    );
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: q.QueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        AttributeNames: ['All'],
      }),
    );
    expect(got.Messages).toHaveLength(1);
    expect(got.Messages![0]!.Body).toBe('hello');
    expect(got.Messages![0]!.Attributes?.MessageGroupId).toBe('acct-1');
    await sqs.send(
      new DeleteMessageCommand({
        QueueUrl: q.QueueUrl,
        ReceiptHandle: got.Messages![0]!.ReceiptHandle,
      }),
    );
  });

  it('routes an event through an EventBridge rule to a queue', async () => {
    const sqs = new SQSClient(clientConfig());
    const eb = new EventBridgeClient(clientConfig());
    const name = uniqueName('smoke');
    const target = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-audit` }));
    const targetArn = (
      await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: target.QueueUrl, AttributeNames: ['QueueArn'] }),
      )
    ).Attributes!.QueueArn!;
    await eb.send(new CreateEventBusCommand({ Name: name }));
    await eb.send(
      new PutRuleCommand({
        Name: `${name}-receipts`,
        EventBusName: name,
        EventPattern: JSON.stringify({
          source: ['countersign.gateway'],
          'detail-type': ['TransactionReceipt'],
        }),
      }),
    );
    await eb.send(
      new PutTargetsCommand({
        Rule: `${name}-receipts`,
        EventBusName: name,
        Targets: [{ Id: 'audit', Arn: targetArn }],
      }),
    );
    const put = await eb.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: name,
            Source: 'countersign.gateway',
            DetailType: 'TransactionReceipt',
            Detail: JSON.stringify({ n: 1 }),
          },
          {
            EventBusName: name,
            Source: 'someone.else',
            DetailType: 'Other',
            Detail: JSON.stringify({ n: 2 }),
          },
        ],
      }),
    );
    expect(put.FailedEntryCount).toBe(0);
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: target.QueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
      }),
    );
    expect(got.Messages).toHaveLength(1);
    const event = JSON.parse(got.Messages![0]!.Body!) as { source: string; detail: { n: number } };
    expect(event.source).toBe('countersign.gateway');
    expect(event.detail.n).toBe(1);
  });

  it('creates a DynamoDB table with TTL enabled', async () => {
    const ddb = new DynamoDBClient(clientConfig());
    const name = uniqueName('nonces');
    await ddb.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    await ddb.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { Enabled: true, AttributeName: 'ttl' },
      }),
    );
    const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: name }));
    expect(ttl.TimeToLiveDescription).toMatchObject({
      TimeToLiveStatus: 'ENABLED',
      AttributeName: 'ttl',
    });
  });
});
