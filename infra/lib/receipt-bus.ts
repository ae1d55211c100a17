// The receipt bus: every receipt the gateway signs is put here, archived for replay, and routed
// to the audit queue. Delivery failures land in the audit DLQ after the retry policy gives up.
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export const RECEIPT_SOURCE = 'countersign.gateway';
export const RECEIPT_DETAIL_TYPE = 'TransactionReceipt';

/**
 * Rule target for an SQS queue whose policy lets only this rule send. CDK's `targets.SqsQueue`
 * grants the events principal sqs:GetQueueAttributes and sqs:GetQueueUrl as well; EventBridge
 * needs only sqs:SendMessage, so this target writes the statement itself.
 */
export class QueueTargetForRuleOnly implements events.IRuleTarget {
  constructor(
    private readonly queue: sqs.IQueue,
    private readonly deadLetterQueue: sqs.IQueue,
    private readonly retry: { readonly maxEventAge: Duration; readonly retryAttempts: number },
  ) {}

  bind(rule: events.IRule): events.RuleTargetConfig {
    for (const [sid, q] of [
      ['OnlyReceiptRuleSends', this.queue],
      ['OnlyReceiptRuleSendsFailures', this.deadLetterQueue],
    ] as const) {
      q.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          principals: [new iam.ServicePrincipal('events.amazonaws.com')],
          actions: ['sqs:SendMessage'],
          resources: [q.queueArn],
          conditions: { ArnEquals: { 'aws:SourceArn': rule.ruleArn } },
        }),
      );
    }
    return {
      arn: this.queue.queueArn,
      deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
      retryPolicy: {
        maximumEventAgeInSeconds: this.retry.maxEventAge.toSeconds(),
        maximumRetryAttempts: this.retry.retryAttempts,
      },
    };
  }
}

export interface ReceiptBusProps {
  readonly busName: string;
  readonly archiveRetention: Duration;
  readonly auditQueue: sqs.IQueue;
  readonly auditDeadLetterQueue: sqs.IQueue;
}

export class ReceiptBus extends Construct {
  readonly bus: events.EventBus;
  readonly archive: events.Archive;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: ReceiptBusProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', { eventBusName: props.busName });
    this.archive = new events.Archive(this, 'Archive', {
      // Named after the bus (unique per region like it): generated names can exceed 48 chars.
      archiveName: `${props.busName}-receipts`,
      sourceEventBus: this.bus,
      description: 'Every countersign receipt, for audit replay',
      eventPattern: { source: [RECEIPT_SOURCE] },
      retention: props.archiveRetention,
    });
    this.rule = new events.Rule(this, 'ReceiptsToAudit', {
      eventBus: this.bus,
      description: 'Gateway receipts to the audit queue',
      eventPattern: { source: [RECEIPT_SOURCE], detailType: [RECEIPT_DETAIL_TYPE] },
    });
    this.rule.addTarget(
      new QueueTargetForRuleOnly(props.auditQueue, props.auditDeadLetterQueue, {
        // EventBridge's maximums: a receipt is retried for a day before it goes to the DLQ.
        maxEventAge: Duration.hours(24),
        retryAttempts: 185,
      }),
    );
  }
}
