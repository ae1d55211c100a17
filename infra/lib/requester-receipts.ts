// How the requester learns what happened to its orders (issue 16): its own EventBridge rule on the
// receipt bus feeds its own encrypted queue (with a DLQ), and a small Lambda verifies each receipt
// with the gateway's public key and stores it by request jti in the requester's table, where
// GET /v1/transactions/{jti} reads it.
//
// The table is the requester's idempotency table (one more item kind under the `txn#` prefix, see
// services/requester/src/dynamo-transaction-store.ts), not a new one: the same access pattern (one
// item by key), TTL, encryption key and retention. Least privilege holds per item kind: this
// function may only UpdateItem items whose key starts with `txn#` (dynamodb:LeadingKeys), so it
// can never read an idempotency record (which holds signed tokens) or change one.
//
// The stack adds the gateway key's GetPublicKey grant (the key policy names this role as a
// verifier) and the key's environment.
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CountersignFunction } from './countersign-function.ts';
import type { IdempotencyTable } from './idempotency-table.ts';
import { LAMBDA_ENTRIES } from './paths.ts';
import { QueueTargetForRuleOnly, RECEIPT_DETAIL_TYPE, RECEIPT_SOURCE } from './receipt-bus.ts';
import { recordTableKeyStatement } from './record-table.ts';

/** The key prefix of the order items (TRANSACTION_PK_PREFIX of the requester). */
export const ORDER_ITEM_PREFIX = 'txn#';

export interface RequesterReceiptsProps {
  readonly bus: events.IEventBus;
  readonly table: IdempotencyTable;
  /** Variables every function gets (mode, ids, log level). */
  readonly environment: Record<string, string>;
  readonly maxReceiveCount: number;
}

export class RequesterReceipts extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly rule: events.Rule;
  readonly consumer: CountersignFunction;

  constructor(scope: Construct, id: string, props: RequesterReceiptsProps) {
    super(scope, id);
    const timeout = Duration.seconds(30);
    // SQS-managed SSE (as the other queues: no KMS grants for EventBridge or the function).
    const encrypted = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true };
    this.deadLetterQueue = new sqs.Queue(this, 'Dlq', {
      ...encrypted,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...encrypted,
      visibilityTimeout: Duration.seconds(6 * timeout.toSeconds()),
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
    this.rule = new events.Rule(this, 'ReceiptsToRequester', {
      eventBus: props.bus,
      description: 'Gateway receipts to the requester (order status)',
      eventPattern: { source: [RECEIPT_SOURCE], detailType: [RECEIPT_DETAIL_TYPE] },
    });
    this.rule.addTarget(
      new QueueTargetForRuleOnly(this.queue, this.deadLetterQueue, {
        maxEventAge: Duration.hours(24),
        retryAttempts: 185,
      }),
    );

    this.consumer = new CountersignFunction(this, 'Consumer', {
      entry: LAMBDA_ENTRIES.requesterReceipts,
      description: "verifies the gateway's receipts and stores them by order for the requester",
      timeout,
      memorySize: 256,
      environment: {
        ...props.environment,
        COUNTERSIGN_IDEMPOTENCY_TABLE: props.table.table.tableName,
      },
    });
    this.consumer.allow(
      new iam.PolicyStatement({
        sid: 'ConsumeRequesterReceipts',
        actions: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        resources: [this.queue.queueArn],
      }),
    );
    this.consumer.allow(
      new iam.PolicyStatement({
        sid: 'StoreOrderReceipts',
        actions: ['dynamodb:UpdateItem'],
        resources: [props.table.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${ORDER_ITEM_PREFIX}*`] },
        },
      }),
    );
    if (props.table.key) {
      this.consumer.allow(recordTableKeyStatement('RequesterTableEncryption', props.table.key));
    }
    // EventSourceMapping directly (SqsEventSource would also grant sqs:GetQueueUrl).
    new lambda.EventSourceMapping(this, 'ConsumerReadsReceipts', {
      target: this.consumer.fn,
      eventSourceArn: this.queue.queueArn,
      batchSize: 10,
      reportBatchItemFailures: true,
      maxConcurrency: 2,
    });
  }
}
