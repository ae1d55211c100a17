// What the two record tables (the gateway's nonces, the requester's Idempotency-Key records)
// share, so they cannot drift apart: partition key `pk` (S), on demand, TTL on `ttl` (epoch
// seconds), point-in-time recovery, encryption at rest (AWS-managed, or a rotating customer key
// per table), deletion protection, and retained when the stack goes: losing either one lets a
// request run twice.
import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { TableEncryptionSetting } from './settings.ts';

/** The table's own customer key when `encryption` is `customer-managed` (rotating, retained). */
export function recordTableKey(
  scope: Construct,
  id: string,
  description: string,
  encryption: TableEncryptionSetting,
): kms.Key | undefined {
  return encryption === 'customer-managed'
    ? new kms.Key(scope, id, {
        description,
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      })
    : undefined;
}

export function recordTableProps(key: kms.Key | undefined): dynamodb.TableProps {
  return {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: 'ttl',
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    ...(key
      ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: key }
      : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
    removalPolicy: RemovalPolicy.RETAIN,
    deletionProtection: true,
  };
}

/** Use of a table's customer key, only through DynamoDB: the role cannot use it directly. */
export function recordTableKeyStatement(sid: string, key: kms.Key): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
    resources: [key.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
  });
}
