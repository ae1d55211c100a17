// The requester's Idempotency-Key records (issue 13 F2): a record keeps a request's jti and
// signed token before it is sent, so a retry reaching another Lambda container, or following a
// crash, sends the same token instead of signing a second order. One DynamoDB table keyed on
// `pk`, TTL on `ttl` (records live 24 h), point-in-time recovery, encrypted, retained. Only the
// role given `grantRecords` may use it, and only with the four item calls the adapter makes.
import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { CountersignFunction } from './countersign-function.ts';
import type { TableEncryptionSetting } from './settings.ts';

/** What services/requester/src/dynamo-idempotency-store.ts calls, and nothing else. */
export const IDEMPOTENCY_RECORD_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
] as const;

export interface IdempotencyTableProps {
  readonly encryption: TableEncryptionSetting;
}

export class IdempotencyTable extends Construct {
  readonly table: dynamodb.Table;
  /** The table's own key (`customer-managed`), usable only through DynamoDB. */
  readonly key: kms.Key | undefined;

  constructor(scope: Construct, id: string, props: IdempotencyTableProps) {
    super(scope, id);
    this.key =
      props.encryption === 'customer-managed'
        ? new kms.Key(this, 'Key', {
            description: 'countersign idempotency table encryption',
            enableKeyRotation: true,
            removalPolicy: RemovalPolicy.RETAIN,
          })
        : undefined;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(this.key
        ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: this.key }
        : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
      // Losing it within a record's 24 h lets a client retry sign a second order.
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    });
  }

  /** Lets `fn` keep records: GetItem, PutItem, UpdateItem, DeleteItem on this table only. */
  grantRecords(fn: CountersignFunction): void {
    fn.allow(
      new iam.PolicyStatement({
        sid: 'IdempotencyRecords',
        actions: [...IDEMPOTENCY_RECORD_ACTIONS],
        resources: [this.table.tableArn],
      }),
    );
    if (this.key) {
      fn.allow(
        new iam.PolicyStatement({
          sid: 'IdempotencyTableEncryption',
          actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
          resources: [this.key.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` },
          },
        }),
      );
    }
  }
}
