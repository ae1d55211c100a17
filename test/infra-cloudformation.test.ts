// Deploys the synthesized CDK template into moto's CloudFormation (CreateStack) and checks that
// the queues, bus, archive, rule, table and keys come out as the stack describes them, then sends
// one receipt event through the bus to the audit queue.
//
// The template is the one `cdk synth` produces (bundling skipped: assets are not used here), with
// these changes, each asserted below so a new one cannot slip in unnoticed:
// - Dropped `Rules.CheckBootstrapVersion` and `Parameters.BootstrapVersion`: they read the CDK
//   bootstrap SSM parameter, and there is no bootstrap in moto.
// - Dropped resource types moto's CloudFormation does not implement (it would skip them with a
//   warning): AWS::SQS::QueuePolicy, AWS::S3::BucketPolicy, AWS::Lambda::Url,
//   AWS::CloudWatch::Alarm, and the Outputs that refer to them. Their properties are asserted on
//   the template by infra/test (stack.test.ts, iam.test.ts).
// - Lambda `Code`: the S3 object in the CDK bootstrap bucket becomes an inline ZipFile stub (the
//   real bundles are built and loaded by infra/test/synth.test.ts).
// moto quirks worked around (real CloudFormation takes the template as synthesized):
// - FIFO queues without QueueName: moto generates a name without ".fifo" and rejects it, so the
//   test names them (CloudFormation appends the suffix itself).
// - AWS::Events::Archive EventPattern given as an object crashes moto (json.loads of a dict): it
//   is passed as a JSON string, which CloudFormation also accepts.
// - AWS::Events::Rule EventBusName `{Ref: bus}` resolves to moto's bus object instead of its name:
//   the literal bus name is used.
// - AWS::KMS::Key KeyPolicy given as an object is stored as a dict and DescribeKey then crashes:
//   it is passed as a JSON string built with Fn::Join, so the role ARNs inside still resolve.
// Gaps of moto's CloudFormation, covered on the template instead: KMS keys are created
// SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT whatever KeySpec and KeyUsage say; DynamoDB TTL and
// point-in-time recovery are ignored; moto lets one alias name exist twice (matched by target).
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeArchiveCommand,
  DescribeEventBusCommand,
  EventBridgeClient,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  ListAliasesCommand,
} from '@aws-sdk/client-kms';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { CountersignStack, KEY_ADMIN_ACTIONS } from '@countersign/infra';
import { App, Stack, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { clientConfig, uniqueName } from './support/aws.ts';

type Json = Record<string, unknown>;
interface CfnTemplate {
  Resources: Record<string, { Type: string; Properties?: Json } & Json>;
  Outputs?: Record<string, unknown>;
  Parameters?: Record<string, unknown>;
  Rules?: Record<string, unknown>;
}

const UNSUPPORTED_BY_MOTO = [
  'AWS::CloudWatch::Alarm',
  'AWS::Lambda::Url',
  'AWS::S3::BucketPolicy',
  'AWS::SQS::QueuePolicy',
];

const isIntrinsic = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.keys(v).length === 1 &&
  ('Ref' in v || Object.keys(v)[0]!.startsWith('Fn::'));

/** A JSON document with intrinsics inside, as an Fn::Join that renders it as a string. */
function jsonStringWithIntrinsics(value: unknown): unknown {
  const marks: unknown[] = [];
  const text = JSON.stringify(value, (_k, v: unknown) =>
    isIntrinsic(v) ? `\u0000${marks.push(v) - 1}\u0000` : v,
  );
  const pieces = text.split(/\\u0000(\d+)\\u0000/);
  return {
    'Fn::Join': [
      '',
      pieces.map((p, i) => (i % 2 === 1 ? marks[Number(p)] : p)).filter((p) => p !== ''),
    ],
  };
}

/** Applies the changes documented at the top of this file; returns what it changed. */
function forMoto(
  source: CfnTemplate,
  names: { stack: string; bus: string },
): { template: CfnTemplate; changes: string[] } {
  const t = structuredClone(source);
  const changes = new Set<string>();
  if (t.Rules?.CheckBootstrapVersion) changes.add('drop Rules.CheckBootstrapVersion');
  delete t.Rules;
  if (t.Parameters?.BootstrapVersion) changes.add('drop Parameters.BootstrapVersion');
  delete t.Parameters;
  const dropped: string[] = [];
  for (const [id, r] of Object.entries(t.Resources)) {
    const p = (r.Properties ??= {});
    if (UNSUPPORTED_BY_MOTO.includes(r.Type)) {
      changes.add(`drop ${r.Type}`);
      dropped.push(id);
      delete t.Resources[id];
    } else if (r.Type === 'AWS::Lambda::Function') {
      changes.add('Lambda Code -> inline ZipFile');
      p.Code = { ZipFile: 'export const handler = async () => ({});' };
    } else if (r.Type === 'AWS::SQS::Queue' && p.FifoQueue === true) {
      changes.add('name FIFO queues');
      p.QueueName = `${names.stack}-${id}.fifo`;
    } else if (r.Type === 'AWS::Events::Archive') {
      changes.add('Archive EventPattern as string');
      p.EventPattern = JSON.stringify(p.EventPattern);
    } else if (r.Type === 'AWS::Events::Rule') {
      changes.add('Rule EventBusName literal');
      p.EventBusName = names.bus;
    } else if (r.Type === 'AWS::KMS::Key') {
      changes.add('KeyPolicy as Fn::Join string');
      p.KeyPolicy = jsonStringWithIntrinsics(p.KeyPolicy);
    }
  }
  for (const [name, output] of Object.entries(t.Outputs ?? {})) {
    const text = JSON.stringify(output);
    if (dropped.some((id) => text.includes(`"${id}"`))) {
      changes.add('drop outputs of dropped resources');
      delete t.Outputs![name];
    }
  }
  return { template: t, changes: [...changes].sort() };
}

describe('the synthesized template in moto CloudFormation', () => {
  const busName = uniqueName('countersign');
  const stackName = uniqueName('cs-infra');
  let stack: CountersignStack;
  let changes: string[];
  let deployed: CfnTemplate;
  let resources: StackResourceSummary[];
  let status: string | undefined;
  const physical = (construct: IConstruct): string => {
    const logicalId = Stack.of(construct).getLogicalId(
      (construct.node.defaultChild ?? construct) as CfnElement,
    );
    const found = resources.find((r) => r.LogicalResourceId === logicalId);
    if (!found?.PhysicalResourceId) throw new Error(`${logicalId} was not created`);
    return found.PhysicalResourceId;
  };
  const sqs = new SQSClient(clientConfig());
  const queueUrl = async (construct: IConstruct): Promise<string> =>
    (await sqs.send(new GetQueueUrlCommand({ QueueName: physical(construct).split('/').pop() })))
      .QueueUrl!;
  const queueAttributes = async (construct: IConstruct): Promise<Record<string, string>> =>
    (
      await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: await queueUrl(construct),
          AttributeNames: ['All'],
        }),
      )
    ).Attributes!;

  beforeAll(async () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    stack = new CountersignStack(app, 'Countersign', {
      settings: { busName, checkpointBucket: true },
    });
    const synthesized = Template.fromStack(stack).toJSON() as CfnTemplate;
    ({ template: deployed, changes } = forMoto(synthesized, { stack: stackName, bus: busName }));
    const cfn = new CloudFormationClient(clientConfig());
    await cfn.send(
      new CreateStackCommand({
        StackName: stackName,
        TemplateBody: JSON.stringify(deployed),
        Capabilities: ['CAPABILITY_IAM'],
      }),
    );
    // moto creates synchronously; the loop keeps the test honest if that changes.
    for (let i = 0; i < 60; i++) {
      status = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0]
        ?.StackStatus;
      if (status !== 'CREATE_IN_PROGRESS') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    resources = [];
    let next: string | undefined;
    do {
      const page = await cfn.send(
        new ListStackResourcesCommand({ StackName: stackName, NextToken: next }),
      );
      resources.push(...(page.StackResourceSummaries ?? []));
      next = page.NextToken;
    } while (next);
  }, 120_000);

  it('changes only what is documented at the top of this file', () => {
    expect(changes).toEqual([
      'Archive EventPattern as string',
      'KeyPolicy as Fn::Join string',
      'Lambda Code -> inline ZipFile',
      'Rule EventBusName literal',
      'drop AWS::CloudWatch::Alarm',
      'drop AWS::Lambda::Url',
      'drop AWS::S3::BucketPolicy',
      'drop AWS::SQS::QueuePolicy',
      'drop Parameters.BootstrapVersion',
      'drop Rules.CheckBootstrapVersion',
      'drop outputs of dropped resources',
      'name FIFO queues',
    ]);
  });

  it('creates the stack and every resource in it', () => {
    expect(status).toBe('CREATE_COMPLETE');
    expect(resources.map((r) => r.LogicalResourceId).sort()).toEqual(
      Object.keys(deployed.Resources).sort(),
    );
    for (const r of resources)
      expect(r.ResourceStatus, r.LogicalResourceId).toBe('CREATE_COMPLETE');
    const types = new Set(resources.map((r) => r.ResourceType));
    for (const type of [
      'AWS::KMS::Key',
      'AWS::KMS::Alias',
      'AWS::SQS::Queue',
      'AWS::Events::EventBus',
      'AWS::Events::Archive',
      'AWS::Events::Rule',
      'AWS::DynamoDB::Table',
      'AWS::IAM::Role',
      'AWS::IAM::Policy',
      'AWS::Lambda::Function',
      'AWS::Lambda::EventSourceMapping',
      'AWS::S3::Bucket',
    ]) {
      expect(types, type).toContain(type);
    }
  });

  it('creates the FIFO request queue with its FIFO DLQ', async () => {
    const dlq = await queueAttributes(stack.requestDeadLetterQueue);
    expect(dlq.FifoQueue).toBe('true');
    const requests = await queueAttributes(stack.requestQueue);
    expect(requests).toMatchObject({
      FifoQueue: 'true',
      ContentBasedDeduplication: 'false',
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      VisibilityTimeout: '180',
      ReceiveMessageWaitTimeSeconds: '20',
      SqsManagedSseEnabled: 'true',
    });
    expect(JSON.parse(requests.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: dlq.QueueArn,
      maxReceiveCount: 5,
    });
  });

  it('creates the standard audit queue with its DLQ', async () => {
    const dlq = await queueAttributes(stack.auditDeadLetterQueue);
    const audit = await queueAttributes(stack.auditQueue);
    expect(audit.FifoQueue).toBeUndefined();
    expect(audit).toMatchObject({ VisibilityTimeout: '360', SqsManagedSseEnabled: 'true' });
    expect(JSON.parse(audit.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: dlq.QueueArn,
      maxReceiveCount: 5,
    });
  });

  it('creates the bus, its archive and the receipt rule targeting the audit queue', async () => {
    const eb = new EventBridgeClient(clientConfig());
    const bus = await eb.send(new DescribeEventBusCommand({ Name: busName }));
    const archive = await eb.send(
      new DescribeArchiveCommand({ ArchiveName: `${busName}-receipts` }),
    );
    expect(archive).toMatchObject({
      EventSourceArn: bus.Arn,
      RetentionDays: 365,
      State: 'ENABLED',
    });
    expect(JSON.parse(archive.EventPattern!)).toEqual({ source: ['countersign.gateway'] });
    // The bus also lists the archive's own managed rule; ours is the one CloudFormation named.
    const rules = (await eb.send(new ListRulesCommand({ EventBusName: busName }))).Rules!;
    const rule = rules.find((r) => r.Name === physical(stack.receipts.rule));
    expect(JSON.parse(rule!.EventPattern!)).toEqual({
      source: ['countersign.gateway'],
      'detail-type': ['TransactionReceipt'],
    });
    const targets = (
      await eb.send(new ListTargetsByRuleCommand({ EventBusName: busName, Rule: rule!.Name }))
    ).Targets!;
    const audit = await queueAttributes(stack.auditQueue);
    const auditDlq = await queueAttributes(stack.auditDeadLetterQueue);
    expect(targets).toEqual([
      expect.objectContaining({
        Arn: audit.QueueArn,
        DeadLetterConfig: { Arn: auditDlq.QueueArn },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
      }),
    ]);
  });

  it('routes a receipt event from the bus to the audit queue', async () => {
    const eb = new EventBridgeClient(clientConfig());
    const put = await eb.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: busName,
            Source: 'countersign.gateway',
            DetailType: 'TransactionReceipt',
            Detail: JSON.stringify({ receipt: 'r', request: null, messageId: 'm-1' }),
          },
          {
            EventBusName: busName,
            Source: 'countersign.gateway',
            DetailType: 'SomethingElse',
            Detail: '{}',
          },
        ],
      }),
    );
    expect(put.FailedEntryCount).toBe(0);
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: await queueUrl(stack.auditQueue),
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
      }),
    );
    expect(got.Messages).toHaveLength(1);
    expect(JSON.parse(got.Messages![0]!.Body!)).toMatchObject({
      source: 'countersign.gateway',
      'detail-type': 'TransactionReceipt',
      detail: { messageId: 'm-1' },
    });
  });

  it('creates the nonce and idempotency tables keyed on pk, on demand, with deletion protection', async () => {
    const ddb = new DynamoDBClient(clientConfig());
    for (const construct of [stack.nonceTable, stack.idempotency.table]) {
      const table = (await ddb.send(new DescribeTableCommand({ TableName: physical(construct) })))
        .Table!;
      expect(table.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
      expect(table.AttributeDefinitions).toEqual([{ AttributeName: 'pk', AttributeType: 'S' }]);
      expect(table.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      expect(table.DeletionProtectionEnabled).toBe(true);
    }
    // TTL and PITR: ignored by moto's CloudFormation (see the header); asserted on the template.
  });

  it('creates both keys with their policies (role ARNs resolved) and aliases', async () => {
    const kms = new KMSClient(clientConfig());
    const roleArn = (construct: IConstruct) =>
      `arn:aws:iam::123456789012:role/${physical(construct)}`;
    const aliases = (await kms.send(new ListAliasesCommand({}))).Aliases ?? [];
    for (const [keys, name, signer, readers] of [
      [
        stack.requesterKeys,
        'requester',
        stack.requester.role,
        [stack.requester.role, stack.gateway.role, stack.audit.role],
      ],
      [
        stack.gatewayKeys,
        'gateway',
        stack.gateway.role,
        // The requester and its receipts consumer verify receipts (order status).
        [
          stack.gateway.role,
          stack.audit.role,
          stack.requester.role,
          stack.requesterReceipts.consumer.role,
        ],
      ],
    ] as const) {
      const keyId = physical(keys.current);
      const meta = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      expect(meta.Description).toBe(`countersign ${name} signing key v1 (ES256)`);
      expect(meta.Enabled).toBe(true);
      const policy = JSON.parse(
        (await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy!,
      ) as { Statement: { Sid: string; Action: string | string[]; Principal: { AWS: unknown } }[] };
      expect(policy.Statement.map((s) => s.Sid)).toEqual([
        'KeyAdministration',
        'ReadPublicKey',
        'SignWithCurrentKey',
      ]);
      const [admin, read, sign] = policy.Statement;
      expect(admin!.Action).toEqual([...KEY_ADMIN_ACTIONS]);
      expect(admin!.Principal.AWS).toBe('arn:aws:iam::123456789012:root');
      expect([read!.Principal.AWS].flat().sort()).toEqual(readers.map(roleArn).sort());
      expect(sign!.Action).toBe('kms:Sign');
      expect(sign!.Principal.AWS).toBe(roleArn(signer));
      expect(
        aliases.some((a) => a.AliasName === `alias/countersign/${name}` && a.TargetKeyId === keyId),
      ).toBe(true);
    }
  });
});
