// The requester's Idempotency-Key records (issue 13 F2): a record keeps a request's jti and
// signed token before it is sent, so a retry reaching another Lambda container, or following a
// crash, sends the same token instead of signing a second order. A record table like the nonce
// table (record-table.ts; TTL: records live 24 h). Only the role given `grantRecords` may use it,
// and only with the four item calls the adapter makes.
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { CountersignFunction } from './countersign-function.ts';
import { recordTableKey, recordTableKeyStatement, recordTableProps } from './record-table.ts';
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
    this.key = recordTableKey(
      this,
      'Key',
      'countersign idempotency table encryption',
      props.encryption,
    );
    // Retained: losing it within a record's 24 h lets a client retry sign a second order.
    this.table = new dynamodb.Table(this, 'Table', recordTableProps(this.key));
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
    if (this.key) fn.allow(recordTableKeyStatement('IdempotencyTableEncryption', this.key));
  }
}
