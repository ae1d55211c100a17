// The resources of the stack as CloudFormation will see them: counts, queue wiring, bus,
// archive and rule, table, functions and their event sources, alarms.
import { CONFIG_ENV } from '@countersign/contracts';
import { Match } from 'aws-cdk-lib/assertions';
import type { Construct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_FINDINGS_METRIC, KMS_THROTTLE_METRIC } from '../lib/countersign-stack.ts';
import {
  BUILD_TIMEOUT_MS,
  build,
  refsIn,
  resourcesOfType,
  type Built,
} from './template-helpers.ts';

const getAtt = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

describe('stack, default settings', () => {
  let b: Built;
  beforeAll(() => {
    b = build();
  }, BUILD_TIMEOUT_MS);

  it('has exactly the expected resources', () => {
    const counts: Record<string, number> = {
      'AWS::KMS::Key': 2,
      'AWS::KMS::Alias': 2,
      'AWS::SQS::Queue': 6,
      'AWS::SQS::QueuePolicy': 6,
      'AWS::Events::EventBus': 1,
      'AWS::Events::Archive': 1,
      'AWS::Events::Rule': 2,
      'AWS::DynamoDB::Table': 2,
      'AWS::Logs::LogGroup': 4,
      'AWS::IAM::Role': 4,
      'AWS::IAM::Policy': 4,
      'AWS::Lambda::Function': 4,
      'AWS::Lambda::Url': 1,
      'AWS::Lambda::EventSourceMapping': 3,
      'AWS::CloudWatch::Alarm': 10,
      'AWS::CloudWatch::Dashboard': 1,
      'AWS::S3::Bucket': 1,
      'AWS::S3::BucketPolicy': 1,
      'AWS::Lambda::Permission': 0,
    };
    for (const [type, n] of Object.entries(counts)) b.template.resourceCountIs(type, n);
    // Nothing unexpected (no custom resources, no log-retention helper Lambda).
    const types = new Set(Object.values(b.json.Resources).map((r) => r.Type));
    types.delete('AWS::CDK::Metadata');
    expect([...types].sort()).toEqual(
      Object.keys(counts)
        .filter((t) => counts[t]! > 0)
        .sort(),
    );
  });

  it('makes the request queue FIFO with explicit dedup, SSE, a FIFO DLQ and 6x visibility', () => {
    const dlq = b.id(b.stack.requestDeadLetterQueue);
    b.template.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      ContentBasedDeduplication: false,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 180,
      ReceiveMessageWaitTimeSeconds: 20,
      RedrivePolicy: { deadLetterTargetArn: getAtt(dlq), maxReceiveCount: 5 },
    });
    expect(b.json.Resources[dlq]!.Properties).toMatchObject({
      FifoQueue: true,
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
  });

  it('gives the standard audit queue its own DLQ', () => {
    const audit = b.json.Resources[b.id(b.stack.auditQueue)]!.Properties!;
    expect(audit.FifoQueue).toBeUndefined();
    expect(audit.RedrivePolicy).toEqual({
      deadLetterTargetArn: getAtt(b.id(b.stack.auditDeadLetterQueue)),
      maxReceiveCount: 5,
    });
    expect(audit.SqsManagedSseEnabled).toBe(true);
  });

  it('denies non-TLS access on every queue', () => {
    const queues = resourcesOfType(b.json, 'AWS::SQS::Queue');
    const covered = resourcesOfType(b.json, 'AWS::SQS::QueuePolicy').flatMap((id) => {
      const p = b.json.Resources[id]!.Properties as {
        Queues: unknown;
        PolicyDocument: { Statement: { Effect: string; Condition?: unknown }[] };
      };
      const denies = p.PolicyDocument.Statement.some(
        (s) =>
          s.Effect === 'Deny' &&
          JSON.stringify(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}',
      );
      return denies ? refsIn(p.Queues) : [];
    });
    expect(covered.sort()).toEqual(queues.sort());
  });

  it('creates the bus, an archive of gateway events with 365-day retention, and the rule', () => {
    const bus = b.id(b.stack.receipts.bus);
    b.template.hasResourceProperties('AWS::Events::EventBus', { Name: 'countersign' });
    b.template.hasResourceProperties('AWS::Events::Archive', {
      ArchiveName: 'countersign-receipts',
      SourceArn: getAtt(bus),
      RetentionDays: 365,
      EventPattern: { source: ['countersign.gateway'] },
    });
    b.template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: bus },
      EventPattern: { source: ['countersign.gateway'], 'detail-type': ['TransactionReceipt'] },
      State: 'ENABLED',
      Targets: [
        {
          Arn: getAtt(b.id(b.stack.auditQueue)),
          Id: Match.anyValue(),
          DeadLetterConfig: { Arn: getAtt(b.id(b.stack.auditDeadLetterQueue)) },
          RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 },
        },
      ],
    });
  });

  it('keys the nonce and idempotency tables on pk with TTL, PITR, encryption, on-demand, retained', () => {
    for (const table of [b.stack.nonceTable, b.stack.idempotency.table]) {
      expect(b.json.Resources[b.id(table)]).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
          TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true },
          DeletionProtectionEnabled: true,
        },
      });
    }
    expect(b.id(b.stack.idempotency.table)).not.toBe(b.id(b.stack.nonceTable));
  });

  it('creates asymmetric SIGN_VERIFY keys (P-256 by default), retained, with aliases', () => {
    for (const key of [b.stack.requesterKeys.current, b.stack.gatewayKeys.current]) {
      expect(b.json.Resources[b.id(key)]).toMatchObject({
        DeletionPolicy: 'Retain',
        Properties: { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' },
      });
      expect(b.json.Resources[b.id(key)]!.Properties!.EnableKeyRotation).toBeUndefined();
    }
    b.template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/countersign/requester',
      TargetKeyId: getAtt(b.id(b.stack.requesterKeys.current)),
    });
    b.template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/countersign/gateway',
      TargetKeyId: getAtt(b.id(b.stack.gatewayKeys.current)),
    });
  });

  it('runs four Node 22 ESM functions with their own log groups', () => {
    const s = b.stack;
    for (const f of [s.requester, s.gateway, s.audit, s.requesterReceipts.consumer]) {
      expect(b.json.Resources[b.id(f.fn)]!.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Architectures: ['arm64'],
        Role: getAtt(b.id(f.role)),
        LoggingConfig: { LogGroup: { Ref: b.id(f.logGroup) } },
      });
    }
    b.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'verifies, executes once, signs receipts',
      Timeout: 30,
    });
  });

  it('configures each function through the CONFIG_ENV names, with only what it needs', () => {
    const env = (f: { fn: unknown }) =>
      (
        b.json.Resources[b.id(f.fn as never)]!.Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables;
    const known = new Set<string>([
      ...Object.keys(CONFIG_ENV),
      // Proposed additions (see infra/README.md), plus the one CDK sets for source maps.
      'COUNTERSIGN_CHECKPOINT_BUCKET',
      'NODE_OPTIONS',
    ]);
    const receipts = b.stack.requesterReceipts.consumer;
    for (const f of [b.stack.requester, b.stack.gateway, b.stack.audit, receipts]) {
      for (const name of Object.keys(env(f))) expect(known, name).toContain(name);
      expect(env(f).COUNTERSIGN_MODE).toBe('aws');
      expect(env(f).NODE_OPTIONS).toBe('--enable-source-maps');
    }
    const requesterKey = getAtt(b.id(b.stack.requesterKeys.current));
    const gatewayKey = getAtt(b.id(b.stack.gatewayKeys.current));
    expect(env(b.stack.requester)).toEqual({
      COUNTERSIGN_MODE: 'aws',
      COUNTERSIGN_LOG_LEVEL: 'info',
      COUNTERSIGN_REQUESTER_ID: 'countersign-requester',
      COUNTERSIGN_GATEWAY_ID: 'countersign-gateway',
      COUNTERSIGN_QUEUE_URL: { Ref: b.id(b.stack.requestQueue) },
      COUNTERSIGN_IDEMPOTENCY_TABLE: { Ref: b.id(b.stack.idempotency.table) },
      COUNTERSIGN_REQUESTER_KMS_KEY_ID: requesterKey,
      COUNTERSIGN_REQUESTER_ALG: 'ES256',
      COUNTERSIGN_REQUESTER_PUBLIC_KEYS: expect.any(Object),
      // It verifies each receipt again before serving it (GET /v1/transactions/{jti}).
      COUNTERSIGN_GATEWAY_KMS_KEY_ID: gatewayKey,
      COUNTERSIGN_GATEWAY_ALG: 'ES256',
      COUNTERSIGN_GATEWAY_PUBLIC_KEYS: expect.any(Object),
      NODE_OPTIONS: '--enable-source-maps',
    });
    // The receipts consumer: the gateway's key to verify, the table to store; nothing to sign.
    expect(env(receipts)).toEqual({
      COUNTERSIGN_MODE: 'aws',
      COUNTERSIGN_LOG_LEVEL: 'info',
      COUNTERSIGN_REQUESTER_ID: 'countersign-requester',
      COUNTERSIGN_GATEWAY_ID: 'countersign-gateway',
      COUNTERSIGN_IDEMPOTENCY_TABLE: { Ref: b.id(b.stack.idempotency.table) },
      COUNTERSIGN_GATEWAY_KMS_KEY_ID: gatewayKey,
      COUNTERSIGN_GATEWAY_ALG: 'ES256',
      COUNTERSIGN_GATEWAY_PUBLIC_KEYS: expect.any(Object),
      NODE_OPTIONS: '--enable-source-maps',
    });
    expect(env(b.stack.gateway)).toMatchObject({
      COUNTERSIGN_QUEUE_URL: { Ref: b.id(b.stack.requestQueue) },
      COUNTERSIGN_NONCE_TABLE: { Ref: b.id(b.stack.nonceTable) },
      COUNTERSIGN_EVENT_BUS: { Ref: b.id(b.stack.receipts.bus) },
      COUNTERSIGN_PARTITIONS: '16',
      COUNTERSIGN_VISIBILITY_TIMEOUT_SEC: '180',
      COUNTERSIGN_MAX_RECEIVES: '5',
      COUNTERSIGN_REQUESTER_KMS_KEY_ID: requesterKey,
      COUNTERSIGN_GATEWAY_KMS_KEY_ID: gatewayKey,
      COUNTERSIGN_GATEWAY_ALG: 'ES256',
      COUNTERSIGN_REQUESTER_PUBLIC_KEYS: expect.any(Object),
      COUNTERSIGN_GATEWAY_PUBLIC_KEYS: expect.any(Object),
    });
    expect(env(b.stack.gateway).COUNTERSIGN_AUDIT_QUEUE_URL).toBeUndefined();
    expect(env(b.stack.audit)).toMatchObject({
      COUNTERSIGN_AUDIT_QUEUE_URL: { Ref: b.id(b.stack.auditQueue) },
      COUNTERSIGN_ARCHIVE_ARN: getAtt(b.id(b.stack.receipts.archive)),
      COUNTERSIGN_REQUESTER_KMS_KEY_ID: requesterKey,
      COUNTERSIGN_GATEWAY_KMS_KEY_ID: gatewayKey,
      COUNTERSIGN_REQUESTER_PUBLIC_KEYS: expect.any(Object),
      COUNTERSIGN_GATEWAY_PUBLIC_KEYS: expect.any(Object),
    });
    // Verifiers trust every generation by ARN (a rotation deploy keeps the previous one).
    const trusted = (v: unknown) => {
      const [, parts] = (v as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
      const text = parts
        .map((p) =>
          typeof p === 'string' ? p : `<${(p as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]}>`,
        )
        .join('');
      return JSON.parse(text) as unknown;
    };
    const keySet = (keys: readonly Construct[]) =>
      keys.map((k) => ({ kms: `<${b.id(k)}>`, alg: 'ES256' }));
    for (const f of [b.stack.requester, b.stack.gateway, b.stack.audit]) {
      expect(trusted(env(f).COUNTERSIGN_REQUESTER_PUBLIC_KEYS)).toEqual(
        keySet(b.stack.requesterKeys.keys),
      );
    }
    for (const f of [b.stack.gateway, b.stack.audit]) {
      expect(trusted(env(f).COUNTERSIGN_GATEWAY_PUBLIC_KEYS)).toEqual(
        keySet(b.stack.gatewayKeys.keys),
      );
    }
    expect(env(b.stack.audit).COUNTERSIGN_QUEUE_URL).toBeUndefined();
    expect(env(b.stack.audit).COUNTERSIGN_NONCE_TABLE).toBeUndefined();
    for (const f of [b.stack.gateway, b.stack.audit]) {
      expect(env(f).COUNTERSIGN_IDEMPOTENCY_TABLE).toBeUndefined();
    }
  });

  it('feeds the gateway from the request queue in batches of 10 with item failures', () => {
    b.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: b.id(b.stack.gateway.fn) },
      EventSourceArn: getAtt(b.id(b.stack.requestQueue)),
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 16 },
    });
    b.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: b.id(b.stack.audit.fn) },
      EventSourceArn: getAtt(b.id(b.stack.auditQueue)),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it("routes every receipt to the requester's own encrypted queue (DLQ) and its consumer", () => {
    const r = b.stack.requesterReceipts;
    b.template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: b.id(b.stack.receipts.bus) },
      EventPattern: { source: ['countersign.gateway'], 'detail-type': ['TransactionReceipt'] },
      Targets: [
        Match.objectLike({
          Arn: getAtt(b.id(r.queue)),
          DeadLetterConfig: { Arn: getAtt(b.id(r.deadLetterQueue)) },
          RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 },
        }),
      ],
    });
    expect(b.json.Resources[b.id(r.queue)]!.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 180,
      RedrivePolicy: { deadLetterTargetArn: getAtt(b.id(r.deadLetterQueue)), maxReceiveCount: 5 },
    });
    expect(b.json.Resources[b.id(r.deadLetterQueue)]!.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
    b.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: b.id(r.consumer.fn) },
      EventSourceArn: getAtt(b.id(r.queue)),
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // The requester holds a long poll (?wait= up to 20 s) within its timeout.
    expect(
      (b.json.Resources[b.id(b.stack.requester.fn)]!.Properties as { Timeout: number }).Timeout,
    ).toBeGreaterThan(20);
  });

  it('exposes the requester through a function URL with IAM auth', () => {
    b.template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      TargetFunctionArn: getAtt(b.id(b.stack.requester.fn)),
    });
  });

  it('alarms on both DLQs, the age of the oldest request, Lambda errors, KMS and audit findings', () => {
    const alarms = resourcesOfType(b.json, 'AWS::CloudWatch::Alarm').map(
      (id) => b.json.Resources[id]!.Properties as Record<string, unknown>,
    );
    const find = (metric: string, dim?: string) =>
      alarms.filter(
        (a) => a.MetricName === metric && (dim === undefined || refsIn(a.Dimensions).includes(dim)),
      );
    for (const q of [
      b.stack.requestDeadLetterQueue,
      b.stack.auditDeadLetterQueue,
      b.stack.requesterReceipts.deadLetterQueue,
    ]) {
      expect(find('ApproximateNumberOfMessagesVisible', b.id(q))).toEqual([
        expect.objectContaining({
          Namespace: 'AWS/SQS',
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
        }),
      ]);
    }
    expect(find('ApproximateAgeOfOldestMessage', b.id(b.stack.requestQueue))).toEqual([
      expect.objectContaining({ Threshold: 60, ComparisonOperator: 'GreaterThanThreshold' }),
    ]);
    for (const fn of [b.stack.requester, b.stack.gateway, b.stack.audit]) {
      expect(find('Errors', b.id(fn.fn))).toEqual([
        expect.objectContaining({ Namespace: 'AWS/Lambda', Threshold: 0 }),
      ]);
    }
    // Throttles of both signers, summed by a metric-math alarm on the EMF signatures_total.
    const throttle = alarms.filter((a) =>
      JSON.stringify(a.Metrics ?? []).includes(`"MetricName":"${KMS_THROTTLE_METRIC.metricName}"`),
    );
    expect(throttle).toHaveLength(1);
    expect(throttle[0]).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    const throttleMetrics = JSON.stringify(throttle[0]!.Metrics);
    for (const role of ['requester', 'gateway']) {
      expect(throttleMetrics).toContain(`{"Name":"role","Value":"${role}"}`);
    }
    expect(throttleMetrics).toContain('{"Name":"result","Value":"throttled"}');
    expect(throttleMetrics).toContain('"Namespace":"Countersign"');
    expect(find(AUDIT_FINDINGS_METRIC.metricName)).toEqual([
      expect.objectContaining({
        Namespace: 'Countersign',
        Threshold: 0,
        Statistic: 'Sum',
        ComparisonOperator: 'GreaterThanThreshold',
        Dimensions: [{ Name: 'service', Value: 'audit' }],
      }),
    ]);
    expect(find('CallCount')).toEqual([
      expect.objectContaining({
        Namespace: 'AWS/Usage',
        Threshold: 300 * 60 * 0.8,
        Dimensions: expect.arrayContaining([
          { Name: 'Service', Value: 'KMS' },
          { Name: 'Resource', Value: 'Sign' },
        ]),
      }),
    ]);
  });

  it('has a dashboard of the same metrics', () => {
    const [id] = resourcesOfType(b.json, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(b.json.Resources[id!]!.Properties);
    for (const metric of [
      'requests_total',
      'receipts_total',
      'sign_seconds',
      'process_seconds',
      'queue_age_seconds',
      'nonce_conflicts_total',
      'chain_conflicts_total',
      'audit_findings_total',
      'ApproximateNumberOfMessagesVisible',
      'ApproximateAgeOfOldestMessage',
      'Errors',
    ]) {
      expect(body).toContain(metric);
    }
  });

  it('outputs what a local config needs', () => {
    for (const name of [
      'RequesterUrl',
      'RequestQueueUrl',
      'AuditQueueUrl',
      'EventBusName',
      'ArchiveArn',
      'NonceTableName',
      'IdempotencyTableName',
      'RequesterKeyArn',
      'GatewayKeyArn',
    ]) {
      b.template.hasOutput(name, {});
    }
  });
});

describe('stack, settings', () => {
  let b: Built;
  beforeAll(() => {
    b = build({
      keyAdminArns: [],
      requesterKeys: [{ version: 1, keySpec: 'RSA_2048' }],
      gatewayKeys: [{ version: 3, keySpec: 'ECC_NIST_P384' }],
      maxReceiveCount: 3,
      gatewayTimeoutSec: 20,
      gatewayMaxConcurrency: 4,
      gatewayBatchSize: 5,
      archiveRetentionDays: 30,
      partitions: 4,
      busName: 'cs-test',
      checkpointBucket: true,
      checkpointRetentionDays: 400,
      tableEncryption: 'customer-managed',
      gatewayPolicies: JSON.stringify([{ id: 'r1' }]),
      requesterInvokerArns: ['arn:aws:iam::111122223333:role/Trader'],
    });
  }, BUILD_TIMEOUT_MS);

  it('follows the key specs and derives the algorithms', () => {
    b.template.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'RSA_2048' });
    b.template.hasResourceProperties('AWS::KMS::Key', {
      KeySpec: 'ECC_NIST_P384',
      Description: Match.stringLikeRegexp('gateway signing key v3 \\(ES384\\)'),
    });
    b.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          COUNTERSIGN_REQUESTER_ALG: 'RS256',
          COUNTERSIGN_GATEWAY_ALG: 'ES384',
          COUNTERSIGN_PARTITIONS: '4',
          COUNTERSIGN_POLICIES: '[{"id":"r1"}]',
        }),
      },
    });
  });

  it('sizes the queue and the event source from the settings', () => {
    b.template.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      VisibilityTimeout: 120,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }),
    });
    b.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 5,
      ScalingConfig: { MaximumConcurrency: 4 },
    });
    b.template.hasResourceProperties('AWS::Events::EventBus', { Name: 'cs-test' });
    b.template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 30 });
  });

  it('adds an Object Lock bucket in compliance mode, TLS-only, private, versioned', () => {
    b.template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        ObjectLockEnabled: true,
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 400 } },
        },
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      },
    });
    b.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('encrypts each table with its own rotating customer key', () => {
    for (const [table, tableKey] of [
      [b.stack.nonceTable, b.stack.nonceTableKey!],
      [b.stack.idempotency.table, b.stack.idempotency.key!],
    ] as const) {
      const key = b.id(tableKey);
      expect(b.json.Resources[b.id(table)]!.Properties!.SSESpecification).toEqual({
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: getAtt(key),
      });
      expect(b.json.Resources[key]!.Properties!.EnableKeyRotation).toBe(true);
    }
    expect(b.id(b.stack.idempotency.key!)).not.toBe(b.id(b.stack.nonceTableKey!));
  });

  it('lets only the listed principals invoke the requester URL', () => {
    b.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      Principal: 'arn:aws:iam::111122223333:role/Trader',
      FunctionUrlAuthType: 'AWS_IAM',
    });
  });
});
