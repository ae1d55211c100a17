// cdk-nag AwsSolutions on the stack, with every optional feature on and with the defaults:
// no unacknowledged finding (cdk-nag v3 fails synth on any), and every acknowledgement names
// one rule (one finding for IAM5) and says why.
import { Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsSolutionsChecks } from '../lib/cdk-nag.ts';
import { BUILD_TIMEOUT_MS, build, type Built } from './template-helpers.ts';

interface Violation {
  ruleName: string;
  severity: string;
  description: string;
  violatingResources: { constructPath: string }[];
}

function nag(scope: IConstruct): Violation[] {
  return new AwsSolutionsChecks(scope, { verbose: true }).validateScope(scope)
    .violations as Violation[];
}

function report(violations: Violation[]): string {
  return violations
    .map(
      (v) =>
        `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    )
    .join('\n');
}

function acknowledgements(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
          path: c.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  let full: Built;
  let plain: Built;
  beforeAll(() => {
    full = build({
      checkpointBucket: true,
      auditReplay: true,
      tableEncryption: 'customer-managed',
      requesterKeys: [
        { version: 1, keySpec: 'ECC_NIST_P256' },
        { version: 2, keySpec: 'RSA_2048' },
      ],
      requesterInvokerArns: ['arn:aws:iam::111122223333:role/Trader'],
    });
    plain = build();
  }, BUILD_TIMEOUT_MS);

  it('finds nothing unacknowledged with every feature on', () => {
    const violations = nag(full.app);
    const warnings = violations.filter((v) => v.severity !== 'error');
    if (warnings.length > 0) console.warn(`cdk-nag warnings:\n${report(warnings)}`);
    expect(report(violations)).toBe('');
  });

  it('finds nothing unacknowledged with the defaults', () => {
    expect(report(nag(plain.app))).toBe('');
  });

  it('acknowledges named rules with reasons, IAM5 only finding by finding', () => {
    const acks = acknowledgements(full.app);
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      expect(a.id, a.path).toMatch(/^AwsSolutions-[A-Z]+[0-9]+(\[.+\])?$/);
      if (a.id.startsWith('AwsSolutions-IAM5')) expect(a.id, a.path).toMatch(/\[Resource::.+\]$/);
      expect(a.reason.length, `${a.path} ${a.id}`).toBeGreaterThanOrEqual(60);
    }
    // Never acknowledged at the stack or app level: each sits on the construct it excuses.
    for (const a of acks) expect(a.path.split('/').length, a.path).toBeGreaterThan(1);
    expect(acks.map((a) => a.id.replace(/<Checkpoints[0-9A-F]+\.Arn>/, '<bucket>')).sort()).toEqual(
      [
        'AwsSolutions-IAM5[Resource::<bucket>/checkpoints/*]',
        'AwsSolutions-IAM5[Resource::<bucket>/checkpoints/*]',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:replay/*]',
        'AwsSolutions-L1',
        'AwsSolutions-L1',
        'AwsSolutions-L1',
        'AwsSolutions-L1',
        'AwsSolutions-S1',
      ],
    );
  });

  it('still fails on a new finding (the check can fail)', () => {
    const b = build();
    new sqs.Queue(b.stack, 'Careless', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    const rules = nag(b.app).map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
  });
});
