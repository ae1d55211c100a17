// Creates the AWS resources of one countersign deployment in moto (what the CDK app deploys),
// and returns them as COUNTERSIGN_* env values for `loadConfig`.
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  CreateArchiveCommand,
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { clientConfig, uniqueName } from './aws.ts';

export interface AwsStack {
  readonly name: string;
  readonly requesterKeyId: string;
  readonly gatewayKeyId: string;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly auditQueueUrl: string;
  readonly busName: string;
  readonly archiveArn: string;
  readonly archiveName: string;
  /** The gateway's nonce table. */
  readonly tableName: string;
  /** The requester's Idempotency-Key records (and its orders' status, `txn#` items). */
  readonly idempotencyTableName: string;
  /** With `requesterReceipts`: the requester's own queue of receipt events (its own rule). */
  readonly requesterReceiptsQueueUrl?: string;
  /** COUNTERSIGN_* variables for this stack (merge with process.env). */
  readonly env: Record<string, string>;
}

export interface AwsStackOptions {
  readonly keySpec?: 'ECC_NIST_P256' | 'ECC_NIST_P384' | 'RSA_2048';
  readonly maxReceives?: number;
  readonly visibilityTimeoutSec?: number;
  /**
   * Also the requester's receipts rule and queue (as infra/lib/requester-receipts.ts), named in
   * env as COUNTERSIGN_REQUESTER_RECEIPTS_QUEUE_URL so a requester consumes it itself.
   */
  readonly requesterReceipts?: boolean;
}

export async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const res = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return res.Attributes!.QueueArn!;
}

/** A FIFO queue (`<name>.fifo`) whose redrive policy moves messages to `<name>-dlq.fifo`. */
export async function createFifoQueueWithDlq(
  sqs: SQSClient,
  name: string,
  options: { readonly maxReceiveCount: number; readonly visibilityTimeoutSec: number },
): Promise<{ queueUrl: string; dlqUrl: string }> {
  const dlq = await sqs.send(
    new CreateQueueCommand({ QueueName: `${name}-dlq.fifo`, Attributes: { FifoQueue: 'true' } }),
  );
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: {
        FifoQueue: 'true',
        ContentBasedDeduplication: 'false',
        VisibilityTimeout: String(options.visibilityTimeoutSec),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: await queueArn(sqs, dlq.QueueUrl!),
          maxReceiveCount: options.maxReceiveCount,
        }),
      },
    }),
  );
  return { queueUrl: queue.QueueUrl!, dlqUrl: dlq.QueueUrl! };
}

/** The receipts rule of a bus (countersign.gateway / TransactionReceipt) targeting a queue. */
export async function routeReceiptsToQueue(
  eb: EventBridgeClient,
  sqs: SQSClient,
  options: { readonly busName: string; readonly ruleName: string; readonly queueUrl: string },
): Promise<void> {
  // (One rule per consumer: the audit's, the requester's.)
  await eb.send(
    new PutRuleCommand({
      Name: options.ruleName,
      EventBusName: options.busName,
      EventPattern: JSON.stringify({
        source: ['countersign.gateway'],
        'detail-type': ['TransactionReceipt'],
      }),
    }),
  );
  await eb.send(
    new PutTargetsCommand({
      Rule: options.ruleName,
      EventBusName: options.busName,
      Targets: [{ Id: 'audit', Arn: await queueArn(sqs, options.queueUrl) }],
    }),
  );
}

/** A table keyed on `pk` (S), on demand, with TTL on `ttl`: the nonce and idempotency tables. */
export async function createTtlTable(ddb: DynamoDBClient, tableName: string): Promise<void> {
  await ddb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
  await ddb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: 'ttl' },
    }),
  );
}

export async function createAwsStack(options: AwsStackOptions = {}): Promise<AwsStack> {
  const cfg = clientConfig();
  const kms = new KMSClient(cfg);
  const sqs = new SQSClient(cfg);
  const eb = new EventBridgeClient(cfg);
  const ddb = new DynamoDBClient(cfg);
  const name = uniqueName('cs');
  const keySpec = options.keySpec ?? 'ECC_NIST_P256';
  const maxReceives = options.maxReceives ?? 5;

  const [requesterKey, gatewayKey] = await Promise.all(
    ['requester', 'gateway'].map((role) =>
      kms.send(
        new CreateKeyCommand({
          KeySpec: keySpec,
          KeyUsage: 'SIGN_VERIFY',
          Description: `${name} ${role}`,
        }),
      ),
    ),
  );
  const requesterKeyId = requesterKey!.KeyMetadata!.KeyId!;
  const gatewayKeyId = gatewayKey!.KeyMetadata!.KeyId!;
  await kms.send(
    new CreateAliasCommand({ AliasName: `alias/${name}/requester`, TargetKeyId: requesterKeyId }),
  );
  await kms.send(
    new CreateAliasCommand({ AliasName: `alias/${name}/gateway`, TargetKeyId: gatewayKeyId }),
  );

  const requests = await createFifoQueueWithDlq(sqs, `${name}-requests`, {
    maxReceiveCount: maxReceives,
    visibilityTimeoutSec: options.visibilityTimeoutSec ?? 30,
  });
  const auditDlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-audit-dlq` }));
  const audit = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-audit` }));
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: audit.QueueUrl,
      Attributes: {
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: await queueArn(sqs, auditDlq.QueueUrl!),
          maxReceiveCount: 10,
        }),
      },
    }),
  );

  const bus = await eb.send(new CreateEventBusCommand({ Name: name }));
  const archiveName = `${name}-archive`;
  const archive = await eb.send(
    new CreateArchiveCommand({
      ArchiveName: archiveName,
      EventSourceArn: bus.EventBusArn,
      EventPattern: JSON.stringify({ source: ['countersign.gateway'] }),
      RetentionDays: 30,
    }),
  );
  await routeReceiptsToQueue(eb, sqs, {
    busName: name,
    ruleName: `${name}-receipts`,
    queueUrl: audit.QueueUrl!,
  });

  let requesterReceiptsQueueUrl: string | undefined;
  if (options.requesterReceipts) {
    const q = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-requester-receipts` }));
    requesterReceiptsQueueUrl = q.QueueUrl!;
    await routeReceiptsToQueue(eb, sqs, {
      busName: name,
      ruleName: `${name}-requester-receipts`,
      queueUrl: requesterReceiptsQueueUrl,
    });
  }

  const tableName = `${name}-nonces`;
  const idempotencyTableName = `${name}-idempotency`;
  await createTtlTable(ddb, tableName);
  await createTtlTable(ddb, idempotencyTableName);

  const alg = keySpec === 'RSA_2048' ? 'RS256' : keySpec === 'ECC_NIST_P384' ? 'ES384' : 'ES256';
  return {
    name,
    requesterKeyId,
    gatewayKeyId,
    queueUrl: requests.queueUrl,
    dlqUrl: requests.dlqUrl,
    auditQueueUrl: audit.QueueUrl!,
    busName: name,
    archiveArn: archive.ArchiveArn!,
    archiveName,
    tableName,
    idempotencyTableName,
    ...(requesterReceiptsQueueUrl ? { requesterReceiptsQueueUrl } : {}),
    env: {
      COUNTERSIGN_MODE: 'aws',
      COUNTERSIGN_REQUESTER_KMS_KEY_ID: requesterKeyId,
      COUNTERSIGN_GATEWAY_KMS_KEY_ID: gatewayKeyId,
      COUNTERSIGN_REQUESTER_ALG: alg,
      COUNTERSIGN_GATEWAY_ALG: alg,
      COUNTERSIGN_QUEUE_URL: requests.queueUrl,
      COUNTERSIGN_MAX_RECEIVES: String(maxReceives),
      COUNTERSIGN_EVENT_BUS: name,
      COUNTERSIGN_ARCHIVE_ARN: archive.ArchiveArn!,
      COUNTERSIGN_AUDIT_QUEUE_URL: audit.QueueUrl!,
      COUNTERSIGN_NONCE_TABLE: tableName,
      COUNTERSIGN_IDEMPOTENCY_TABLE: idempotencyTableName,
      ...(requesterReceiptsQueueUrl
        ? { COUNTERSIGN_REQUESTER_RECEIPTS_QUEUE_URL: requesterReceiptsQueueUrl }
        : {}),
    },
  };
}
