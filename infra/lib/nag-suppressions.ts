// cdk-nag AwsSolutions findings we accept. Each acknowledgement names the rule id (with the
// exact finding for IAM5, never the whole rule) and says why; a new finding still fails synth.
import { Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { CountersignStack } from './countersign-stack.ts';

/** Every acknowledgement the stack records, for the README and the nag test. */
export interface NagAcknowledgement {
  readonly scope: IConstruct;
  readonly id: string;
  readonly reason: string;
}

export function nagAcknowledgements(stack: CountersignStack): NagAcknowledgement[] {
  const out: NagAcknowledgement[] = [];
  for (const f of [stack.requester, stack.gateway, stack.audit, stack.requesterReceipts.consumer]) {
    out.push({
      scope: f.fn,
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to NODEJS_22_X on purpose: esbuild targets node22 and the code is tested on ' +
        'Node 20/22; a runtime bump is a deliberate change with its own test run.',
    });
  }
  const bucket = stack.checkpointBucket;
  if (bucket) {
    const bucketId = Stack.of(stack).getLogicalId(bucket.node.defaultChild as CfnResource);
    out.push({
      scope: bucket,
      id: 'AwsSolutions-S1',
      reason:
        'Checkpoints are write-once under Object Lock (compliance) and signed by the gateway; ' +
        'object-level access is audited with CloudTrail data events. A log bucket would need ' +
        'its own log bucket and adds nothing to tamper evidence.',
    });
    for (const role of [stack.gateway.role, stack.audit.role]) {
      out.push({
        scope: role,
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/checkpoints/*]`,
        reason:
          'Objects under the checkpoints/ prefix only: checkpoint keys carry the gateway id ' +
          'and sequence number, chosen when each checkpoint is written.',
      });
    }
  }
  if (stack.settings.auditReplay) {
    out.push({
      scope: stack.audit.role,
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:replay/*]',
      reason:
        'events:DescribeReplay only: a replay ARN is named when StartReplay runs, so it is ' +
        'known only by prefix; DescribeReplay reads status, it cannot start or change one.',
    });
  }
  return out;
}

export function acknowledgeNagFindings(stack: CountersignStack): void {
  for (const a of nagAcknowledgements(stack)) {
    Validations.of(a.scope).acknowledge({ id: a.id, reason: a.reason });
  }
}
