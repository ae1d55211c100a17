// The whole countersign pipeline in one env-agnostic stack (DESIGN.md §1, §4, §6, §7):
// requester API ─▶ requests.fifo ─▶ gateway ─▶ receipt bus (archive) ─▶ audit queue ─▶ audit.
// Every role starts empty and gets named actions on named ARNs; the README has the matrix.
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { CountersignFunction } from './countersign-function.ts';
import { IdempotencyTable } from './idempotency-table.ts';
import { recordTableKey, recordTableKeyStatement, recordTableProps } from './record-table.ts';
import { ExchangeCredentials } from './exchange-credentials.ts';
import { acknowledgeNagFindings } from './nag-suppressions.ts';
import { LAMBDA_ENTRIES } from './paths.ts';
import { ReceiptBus } from './receipt-bus.ts';
import { RequesterReceipts } from './requester-receipts.ts';
import { DEFAULT_SETTINGS, type CountersignSettings } from './settings.ts';
import { SigningKeySet } from './signing-keys.ts';
import { CLOUDWATCH_NAMESPACE, type MetricName } from '@countersign/observability';

/**
 * The EMF metric the Lambdas write for each signature (observability's catalogue): a kms:Sign
 * that failed with ThrottlingException after the SDK's retries is `result: throttled`.
 */
export const KMS_THROTTLE_METRIC = {
  namespace: CLOUDWATCH_NAMESPACE,
  metricName: 'signatures_total',
} as const satisfies { namespace: string; metricName: MetricName };

/** Any audit finding (EMF from the audit function, dimension set [service]). */
export const AUDIT_FINDINGS_METRIC = {
  namespace: CLOUDWATCH_NAMESPACE,
  metricName: 'audit_findings_total',
  dimensionsMap: { service: 'audit' },
} as const satisfies { namespace: string; metricName: MetricName; dimensionsMap: object };

export interface CountersignStackProps extends StackProps {
  /** Overrides of DEFAULT_SETTINGS (the app passes what it read from context). */
  readonly settings?: Partial<CountersignSettings>;
}

export class CountersignStack extends Stack {
  readonly settings: CountersignSettings;
  readonly requesterKeys: SigningKeySet;
  readonly gatewayKeys: SigningKeySet;
  readonly requestQueue: sqs.Queue;
  readonly requestDeadLetterQueue: sqs.Queue;
  readonly auditQueue: sqs.Queue;
  readonly auditDeadLetterQueue: sqs.Queue;
  readonly receipts: ReceiptBus;
  readonly nonceTable: dynamodb.Table;
  readonly nonceTableKey: kms.Key | undefined;
  readonly idempotency: IdempotencyTable;
  /** The requester's receipts rule, queue, DLQ and consumer function (order status). */
  readonly requesterReceipts: RequesterReceipts;
  readonly checkpointBucket: s3.Bucket | undefined;
  readonly requester: CountersignFunction;
  readonly gateway: CountersignFunction;
  readonly audit: CountersignFunction;
  /** With `exchange=http`: the credentials key, its grants and the gateway's exchange env. */
  readonly exchangeCredentials: ExchangeCredentials | undefined;
  readonly requesterUrl: lambda.FunctionUrl;
  readonly alarms: readonly cloudwatch.Alarm[];
  /** The same metrics on one page: traffic, outcomes, latency, queue age, DLQs, findings. */
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: CountersignStackProps = {}) {
    super(scope, id, {
      description: 'countersign: KMS-signed transaction requests, verified, receipted, audited',
      ...props,
    });
    const s: CountersignSettings = { ...DEFAULT_SETTINGS, ...props.settings };
    this.settings = s;
    const gatewayTimeout = Duration.seconds(s.gatewayTimeoutSec);
    const auditTimeout = Duration.seconds(60);

    // ── Queues ───────────────────────────────────────────────────────────────────────────────
    // SQS-managed SSE, not a customer KMS key: encryption at rest with no kms:GenerateDataKey /
    // kms:Decrypt for the requester, the gateway, the audit and EventBridge, and no KMS quota
    // spent next to kms:Sign on the hot path.
    const queueDefaults = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true };
    this.requestDeadLetterQueue = new sqs.Queue(this, 'RequestsDlq', {
      ...queueDefaults,
      fifo: true,
      retentionPeriod: Duration.days(14),
    });
    this.requestQueue = new sqs.Queue(this, 'Requests', {
      ...queueDefaults,
      fifo: true,
      // The requester sets MessageDeduplicationId = jti; a body hash would merge distinct orders.
      contentBasedDeduplication: false,
      // High-throughput FIFO: dedup and throughput per group (= account), jti is unique anyway.
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      // AWS's guidance for Lambda event sources: 6 x the function timeout, so retries of a
      // throttled batch do not make messages visible again while still in flight.
      visibilityTimeout: Duration.seconds(6 * s.gatewayTimeoutSec),
      receiveMessageWaitTime: Duration.seconds(20),
      deadLetterQueue: { queue: this.requestDeadLetterQueue, maxReceiveCount: s.maxReceiveCount },
    });
    // One DLQ for the audit side: it receives both audit-consumer failures (redrive) and events
    // EventBridge could not deliver (rule DLQ). Both are the same event JSON: "a receipt the
    // audit has not processed", redriven the same way.
    this.auditDeadLetterQueue = new sqs.Queue(this, 'AuditDlq', {
      ...queueDefaults,
      retentionPeriod: Duration.days(14),
    });
    this.auditQueue = new sqs.Queue(this, 'Audit', {
      ...queueDefaults,
      visibilityTimeout: Duration.seconds(6 * auditTimeout.toSeconds()),
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: this.auditDeadLetterQueue, maxReceiveCount: s.maxReceiveCount },
    });

    // ── Receipt bus, archive, rule ────────────────────────────────────────────────────────
    this.receipts = new ReceiptBus(this, 'Receipts', {
      busName: s.busName,
      archiveRetention: Duration.days(s.archiveRetentionDays),
      auditQueue: this.auditQueue,
      auditDeadLetterQueue: this.auditDeadLetterQueue,
    });

    // ── Nonce table (also holds the receipt chain heads, see README) ──────────────────────
    this.nonceTableKey = recordTableKey(
      this,
      'NonceTableKey',
      'countersign nonce table encryption',
      s.tableEncryption,
    );
    // Retained: losing it forgets which requests ran, and a replayed token would execute twice.
    this.nonceTable = new dynamodb.Table(this, 'Nonces', recordTableProps(this.nonceTableKey));

    // The requester's Idempotency-Key records (its own table, key and grant: see the construct).
    this.idempotency = new IdempotencyTable(this, 'IdempotencyRecords', {
      encryption: s.tableEncryption,
    });

    // ── Checkpoint bucket (DESIGN.md §6a: catches tail truncation; on by default) ─────────
    this.checkpointBucket = s.checkpointBucket
      ? new s3.Bucket(this, 'Checkpoints', {
          objectLockEnabled: true,
          objectLockDefaultRetention: s3.ObjectLockRetention.compliance(
            Duration.days(s.checkpointRetentionDays),
          ),
          versioned: true,
          enforceSSL: true,
          blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
          encryption: s3.BucketEncryption.S3_MANAGED,
          removalPolicy: RemovalPolicy.RETAIN,
        })
      : undefined;

    // ── Functions ──────────────────────────────────────────────────────────────────────────
    const common = {
      COUNTERSIGN_MODE: 'aws',
      COUNTERSIGN_LOG_LEVEL: 'info',
      COUNTERSIGN_REQUESTER_ID: s.requesterId,
      COUNTERSIGN_GATEWAY_ID: s.gatewayId,
    };
    const checkpointEnv: Record<string, string> = this.checkpointBucket
      ? { COUNTERSIGN_CHECKPOINT_BUCKET: this.checkpointBucket.bucketName }
      : {};
    this.requester = new CountersignFunction(this, 'Requester', {
      entry: LAMBDA_ENTRIES.requester,
      description: 'signs transaction requests with KMS and enqueues them',
      // GET /v1/transactions/{jti}?wait= holds a request up to 20 s.
      timeout: Duration.seconds(30),
      memorySize: 512,
      environment: {
        ...common,
        COUNTERSIGN_QUEUE_URL: this.requestQueue.queueUrl,
        COUNTERSIGN_IDEMPOTENCY_TABLE: this.idempotency.table.tableName,
      },
    });
    this.gateway = new CountersignFunction(this, 'Gateway', {
      entry: LAMBDA_ENTRIES.gateway,
      description: 'verifies, executes once, signs receipts',
      timeout: gatewayTimeout,
      memorySize: 1024,
      environment: {
        ...common,
        ...checkpointEnv,
        COUNTERSIGN_QUEUE_URL: this.requestQueue.queueUrl,
        COUNTERSIGN_NONCE_TABLE: this.nonceTable.tableName,
        COUNTERSIGN_EVENT_BUS: this.receipts.bus.eventBusName,
        COUNTERSIGN_PARTITIONS: String(s.partitions),
        COUNTERSIGN_VISIBILITY_TIMEOUT_SEC: String(6 * s.gatewayTimeoutSec),
        COUNTERSIGN_MAX_RECEIVES: String(s.maxReceiveCount),
        ...(s.gatewayPolicies === undefined ? {} : { COUNTERSIGN_POLICIES: s.gatewayPolicies }),
      },
    });
    this.requesterReceipts = new RequesterReceipts(this, 'RequesterReceipts', {
      bus: this.receipts.bus,
      table: this.idempotency,
      environment: common,
      maxReceiveCount: s.maxReceiveCount,
    });
    this.audit = new CountersignFunction(this, 'AuditConsumer', {
      entry: LAMBDA_ENTRIES.audit,
      description: 'verifies receipts and requests, checks the chains',
      timeout: auditTimeout,
      memorySize: 512,
      environment: {
        ...common,
        ...checkpointEnv,
        COUNTERSIGN_AUDIT_QUEUE_URL: this.auditQueue.queueUrl,
        COUNTERSIGN_EVENT_BUS: this.receipts.bus.eventBusName,
        COUNTERSIGN_ARCHIVE_ARN: this.receipts.archive.archiveArn,
        COUNTERSIGN_PARTITIONS: String(s.partitions),
      },
    });

    // ── Keys (after the roles: key policies name them) ─────────────────────────────────────
    const admins: iam.IPrincipal[] =
      s.keyAdminArns.length > 0
        ? s.keyAdminArns.map((arn) => new iam.ArnPrincipal(arn))
        : // Administration delegated to IAM policies of this account (this is how the
          // CloudFormation deploy role passes KMS's lockout check); use is not delegated.
          [new iam.AccountRootPrincipal()];
    this.requesterKeys = new SigningKeySet(this, 'RequesterKey', {
      name: 'requester',
      versions: s.requesterKeys,
      rsaAlg: s.rsaAlg,
      admins,
      signer: this.requester.role,
      verifiers: [this.gateway.role, this.audit.role],
    });
    this.gatewayKeys = new SigningKeySet(this, 'GatewayKey', {
      name: 'gateway',
      versions: s.gatewayKeys,
      rsaAlg: s.rsaAlg,
      admins,
      signer: this.gateway.role,
      // The requester verifies each receipt before storing it, and again before serving it.
      verifiers: [this.audit.role, this.requester.role, this.requesterReceipts.consumer.role],
    });
    // The signer's key id names the newest generation; verifiers (and the requester's
    // /.well-known/jwks.json) trust every listed generation, so a rotation deploy never rejects
    // what the previous key signed (the runbook in infra/README.md).
    const requesterKeyEnv = {
      COUNTERSIGN_REQUESTER_KMS_KEY_ID: this.requesterKeys.current.keyArn,
      COUNTERSIGN_REQUESTER_ALG: this.requesterKeys.alg,
      COUNTERSIGN_REQUESTER_PUBLIC_KEYS: this.requesterKeys.trustedKeySet(),
    };
    const gatewayKeyEnv = {
      COUNTERSIGN_GATEWAY_KMS_KEY_ID: this.gatewayKeys.current.keyArn,
      COUNTERSIGN_GATEWAY_ALG: this.gatewayKeys.alg,
      COUNTERSIGN_GATEWAY_PUBLIC_KEYS: this.gatewayKeys.trustedKeySet(),
    };
    this.exchangeCredentials = this.createExchangeCredentials(s, admins);
    for (const [fn, env] of [
      [this.requester, { ...requesterKeyEnv, ...gatewayKeyEnv }],
      [this.requesterReceipts.consumer, gatewayKeyEnv],
      [
        this.gateway,
        { ...requesterKeyEnv, ...gatewayKeyEnv, ...this.exchangeCredentials?.environment },
      ],
      [this.audit, { ...requesterKeyEnv, ...gatewayKeyEnv }],
    ] as const) {
      for (const [k, v] of Object.entries(env)) fn.fn.addEnvironment(k, v);
    }

    // ── IAM: exactly these actions on exactly these resources ──────────────────────────────
    const requesterSigner = this.requesterKeys.current.keyArn;
    const gatewaySigner = this.gatewayKeys.current.keyArn;

    this.requester.allow(
      new iam.PolicyStatement({
        sid: 'SignRequests',
        actions: ['kms:Sign', 'kms:GetPublicKey'],
        resources: [requesterSigner],
      }),
    );
    // GET /.well-known/jwks.json lists the previous generations too.
    const publishPrevious = this.requesterKeys.readPreviousStatement('PublishPreviousPublicKeys');
    if (publishPrevious) this.requester.allow(publishPrevious);
    this.requester.allow(
      new iam.PolicyStatement({
        sid: 'EnqueueRequests',
        actions: ['sqs:SendMessage'],
        resources: [this.requestQueue.queueArn],
      }),
    );
    this.idempotency.grantRecords(this.requester);
    const readGatewayPublicKeys = new iam.PolicyStatement({
      sid: 'ReadGatewayPublicKeys',
      actions: ['kms:GetPublicKey'],
      resources: this.gatewayKeys.keyArns(),
    });
    this.requester.allow(readGatewayPublicKeys);
    this.requesterReceipts.consumer.allow(readGatewayPublicKeys);

    this.gateway.allow(
      new iam.PolicyStatement({
        sid: 'ConsumeRequests',
        actions: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        resources: [this.requestQueue.queueArn],
      }),
    );
    this.gateway.allow(
      new iam.PolicyStatement({
        sid: 'ReadRequesterPublicKeys',
        actions: ['kms:GetPublicKey'],
        resources: this.requesterKeys.keyArns(),
      }),
    );
    this.gateway.allow(
      new iam.PolicyStatement({
        sid: 'SignReceipts',
        actions: ['kms:Sign', 'kms:GetPublicKey'],
        resources: [gatewaySigner],
      }),
    );
    // The start-up head check verifies checkpoints signed by an earlier generation.
    const readHistory = this.gatewayKeys.readPreviousStatement('ReadOwnKeyHistory');
    if (readHistory) this.gateway.allow(readHistory);
    this.gateway.allow(
      new iam.PolicyStatement({
        sid: 'NoncesAndChainHeads',
        // TransactWriteItems is authorized per item as PutItem / UpdateItem / ConditionCheckItem;
        // there is no separate IAM action for it. No DeleteItem: records leave by TTL.
        actions: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:ConditionCheckItem',
        ],
        resources: [this.nonceTable.tableArn],
      }),
    );
    this.gateway.allow(
      new iam.PolicyStatement({
        sid: 'PublishReceipts',
        actions: ['events:PutEvents'],
        resources: [this.receipts.bus.eventBusArn],
      }),
    );
    if (this.nonceTableKey) {
      this.gateway.allow(recordTableKeyStatement('NonceTableEncryption', this.nonceTableKey));
    }
    for (const statement of this.exchangeCredentials?.gatewayStatements ?? []) {
      this.gateway.allow(statement);
    }
    if (this.checkpointBucket) {
      this.gateway.allow(
        new iam.PolicyStatement({
          sid: 'WriteCheckpoints',
          actions: ['s3:PutObject'],
          resources: [this.checkpointBucket.arnForObjects('checkpoints/*')],
        }),
      );
      // The newest checkpoint of a stream: the next one chains onto it, and a cold start
      // compares the chain heads with it (issue 13 F4).
      this.gateway.allow(
        new iam.PolicyStatement({
          sid: 'ReadNewestCheckpoints',
          actions: ['s3:GetObject'],
          resources: [this.checkpointBucket.arnForObjects('checkpoints/*')],
        }),
      );
      this.gateway.allow(
        new iam.PolicyStatement({
          sid: 'ListOwnCheckpoints',
          actions: ['s3:ListBucket'],
          resources: [this.checkpointBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': ['checkpoints/*'] } },
        }),
      );
    }

    this.audit.allow(
      new iam.PolicyStatement({
        sid: 'ConsumeReceipts',
        actions: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        resources: [this.auditQueue.queueArn],
      }),
    );
    this.audit.allow(
      new iam.PolicyStatement({
        sid: 'ReadPublicKeys',
        actions: ['kms:GetPublicKey'],
        resources: [...this.requesterKeys.keyArns(), ...this.gatewayKeys.keyArns()],
      }),
    );
    if (s.auditReplay) {
      this.audit.allow(
        new iam.PolicyStatement({
          sid: 'StartReplay',
          // StartReplay is authorized on the archive; the replay re-sends to this bus.
          actions: ['events:StartReplay'],
          resources: [this.receipts.archive.archiveArn],
        }),
      );
      this.audit.allow(
        new iam.PolicyStatement({
          sid: 'ResolveReplayDestination',
          // The replay's destination is this bus; the audit looks its ARN up by name.
          actions: ['events:DescribeEventBus'],
          resources: [this.receipts.bus.eventBusArn],
        }),
      );
      this.audit.allow(
        new iam.PolicyStatement({
          sid: 'DescribeReplay',
          // Replay names are chosen at StartReplay time, so the ARN is only known by prefix.
          actions: ['events:DescribeReplay'],
          resources: [`arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:replay/*`],
        }),
      );
    }
    if (this.checkpointBucket) {
      // Every version: a checkpoint written over or delete-marked is a finding.
      this.audit.allow(
        new iam.PolicyStatement({
          sid: 'ReadCheckpoints',
          actions: ['s3:GetObject', 's3:GetObjectVersion'],
          resources: [this.checkpointBucket.arnForObjects('checkpoints/*')],
        }),
      );
      this.audit.allow(
        new iam.PolicyStatement({
          sid: 'ListCheckpoints',
          actions: ['s3:ListBucket', 's3:ListBucketVersions'],
          resources: [this.checkpointBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': ['checkpoints/*'] } },
        }),
      );
      // Written by the gateway role only, whatever an identity policy elsewhere grants; and no
      // delete markers (Object Lock keeps versions, but a marker would hide one from listings).
      this.checkpointBucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OnlyTheGatewayWritesCheckpoints',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:PutObject'],
          resources: [this.checkpointBucket.arnForObjects('*')],
          conditions: { ArnNotEquals: { 'aws:PrincipalArn': this.gateway.role.roleArn } },
        }),
      );
      this.checkpointBucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CheckpointsAreNeverDeleted',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
          resources: [this.checkpointBucket.arnForObjects('*')],
        }),
      );
    }

    // ── Event sources and the requester URL ────────────────────────────────────────────────
    // EventSourceMapping directly (not SqsEventSource): the latter grants sqs:GetQueueUrl too.
    new lambda.EventSourceMapping(this, 'GatewayReadsRequests', {
      target: this.gateway.fn,
      eventSourceArn: this.requestQueue.queueArn,
      batchSize: s.gatewayBatchSize,
      reportBatchItemFailures: true,
      maxConcurrency: s.gatewayMaxConcurrency,
    });
    new lambda.EventSourceMapping(this, 'AuditReadsReceipts', {
      target: this.audit.fn,
      eventSourceArn: this.auditQueue.queueArn,
      batchSize: 10,
      reportBatchItemFailures: true,
      maxConcurrency: 2,
    });
    this.requesterUrl = this.requester.fn.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.AWS_IAM,
    });
    for (const arn of s.requesterInvokerArns) {
      this.requester.fn.grantInvokeUrl(new iam.ArnPrincipal(arn));
    }

    // ── Alarms ─────────────────────────────────────────────────────────────────────────────
    this.alarms = this.createAlarms(s);
    this.dashboard = this.createDashboard();

    // ── Outputs: what an operator pastes into a local config ──────────────────────────────
    const outputs: Record<string, string> = {
      RequesterUrl: this.requesterUrl.url,
      RequestQueueUrl: this.requestQueue.queueUrl,
      AuditQueueUrl: this.auditQueue.queueUrl,
      EventBusName: this.receipts.bus.eventBusName,
      ArchiveArn: this.receipts.archive.archiveArn,
      NonceTableName: this.nonceTable.tableName,
      IdempotencyTableName: this.idempotency.table.tableName,
      RequesterReceiptsQueueUrl: this.requesterReceipts.queue.queueUrl,
      RequesterKeyArn: this.requesterKeys.current.keyArn,
      GatewayKeyArn: this.gatewayKeys.current.keyArn,
      ...(this.checkpointBucket ? { CheckpointBucket: this.checkpointBucket.bucketName } : {}),
      ...(this.exchangeCredentials
        ? {
            ExchangeCredentialsKeyArn: this.exchangeCredentials.key.keyArn,
            ExchangeCredentialsParameter: this.exchangeCredentials.parameterName,
          }
        : {}),
    };
    for (const [name, value] of Object.entries(outputs)) new CfnOutput(this, name, { value });

    acknowledgeNagFindings(this);
  }

  /** `exchange=http`: the gateway trades through HttpExchange with KMS-sealed credentials. */
  private createExchangeCredentials(
    s: CountersignSettings,
    admins: readonly iam.IPrincipal[],
  ): ExchangeCredentials | undefined {
    if (s.exchange !== 'http') return undefined;
    if (s.exchangeUrl === undefined) throw new Error('exchange=http needs exchangeUrl');
    return new ExchangeCredentials(this, 'ExchangeCredentials', {
      gatewayId: s.gatewayId,
      exchangeName: s.exchangeName,
      exchangeUrl: s.exchangeUrl,
      parameterName: s.exchangeParameter ?? `/countersign/${s.gatewayId}/exchange-credentials`,
      admins,
      sealers:
        s.exchangeSealerArns.length > 0
          ? s.exchangeSealerArns.map((arn) => new iam.ArnPrincipal(arn))
          : admins,
      gatewayRole: this.gateway.role,
    });
  }

  private createAlarms(s: CountersignSettings): cloudwatch.Alarm[] {
    const oneMinute = Duration.minutes(1);
    const dlqAlarm = (id: string, queue: sqs.Queue, what: string): cloudwatch.Alarm =>
      queue
        .metricApproximateNumberOfMessagesVisible({ period: oneMinute, statistic: 'Maximum' })
        .createAlarm(this, id, {
          alarmDescription: `${what}: at least one message is in the DLQ`,
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
    return [
      dlqAlarm(
        'RequestsDlqNotEmpty',
        this.requestDeadLetterQueue,
        'Requests the gateway gave up on',
      ),
      dlqAlarm('AuditDlqNotEmpty', this.auditDeadLetterQueue, 'Receipts the audit did not process'),
      dlqAlarm(
        'RequesterReceiptsDlqNotEmpty',
        this.requesterReceipts.deadLetterQueue,
        'Receipts the requester did not store (order status stays queued)',
      ),
      this.requestQueue
        .metricApproximateAgeOfOldestMessage({ period: oneMinute, statistic: 'Maximum' })
        .createAlarm(this, 'RequestsTooOld', {
          alarmDescription:
            'The oldest request waits longer than a token lives: the gateway is behind and ' +
            'requests will be rejected as EXPIRED',
          threshold: s.oldestMessageAlarmSec,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 2,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      ...(
        [
          ['RequesterErrors', this.requester, 'The requester function failed'],
          [
            'GatewayErrors',
            this.gateway,
            'The gateway function failed (whole invocations, not item failures)',
          ],
          ['AuditErrors', this.audit, 'The audit function failed (whole invocations)'],
        ] as const
      ).map(([id, fn, what]) =>
        fn.fn.metricErrors({ period: oneMinute, statistic: 'Sum' }).createAlarm(this, id, {
          alarmDescription: what,
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      ),
      // KMS publishes no throttle metric per key: the signers count what stayed throttled after
      // the SDK's adaptive retries (EMF `signatures_total`, result throttled), per role.
      new cloudwatch.MathExpression({
        // A minute without a throttle has no datapoint: FILL reads it as 0 in the sum.
        expression: 'FILL(requester, 0) + FILL(gateway, 0)',
        usingMetrics: {
          requester: this.throttles('requester'),
          gateway: this.throttles('gateway'),
        },
        period: oneMinute,
        label: 'kms:Sign throttled',
      }).createAlarm(this, 'KmsSignThrottled', {
        alarmDescription: 'kms:Sign was throttled past the SDK retries (requester or gateway)',
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Metric({
        ...AUDIT_FINDINGS_METRIC,
        period: oneMinute,
        statistic: 'Sum',
      }).createAlarm(this, 'AuditFinding', {
        alarmDescription:
          'The audit found something (gap, conflict, bad signature, rewritten history...): ' +
          'read the audit function log for the finding',
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // The account-wide request rate is what KMS throttles on (shared by every key and caller):
      // AWS/Usage CallCount for Sign, per minute, against 80 % of the configured quota.
      new cloudwatch.Metric({
        namespace: 'AWS/Usage',
        metricName: 'CallCount',
        dimensionsMap: { Service: 'KMS', Type: 'API', Resource: 'Sign', Class: 'None' },
        period: oneMinute,
        statistic: 'Sum',
      }).createAlarm(this, 'KmsSignNearQuota', {
        alarmDescription: `kms:Sign above 80 % of ${s.kmsSignQuotaPerSec}/s (account quota)`,
        threshold: Math.floor(s.kmsSignQuotaPerSec * 60 * 0.8),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
  }

  private throttles(role: 'requester' | 'gateway'): cloudwatch.Metric {
    return new cloudwatch.Metric({
      ...KMS_THROTTLE_METRIC,
      dimensionsMap: { service: role, role, result: 'throttled' },
      period: Duration.minutes(1),
      statistic: 'Sum',
    });
  }

  private createDashboard(): cloudwatch.Dashboard {
    const minute = Duration.minutes(1);
    const emf = (metricName: MetricName, service: string, statistic = 'Sum', label?: string) =>
      new cloudwatch.Metric({
        namespace: CLOUDWATCH_NAMESPACE,
        metricName,
        dimensionsMap: { service },
        period: minute,
        statistic,
        ...(label ? { label } : {}),
      });
    const search = (metricName: MetricName, dims: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${CLOUDWATCH_NAMESPACE},${dims}} MetricName="${metricName}"', 'Sum', 60)`,
        label,
        period: minute,
      });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${this.stackName}-operations`,
    });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Requests accepted / refused (by reason)',
        left: [search('requests_total', 'service,result,reason', 'requests')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Receipts by outcome and reason',
        left: [search('receipts_total', 'service,outcome,reason', 'receipts')],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Sign latency (s)',
        left: ['p50', 'p99'].flatMap((p) =>
          (['requester', 'gateway'] as const).map((role) =>
            emf('sign_seconds', role, p, `${role} ${p}`),
          ),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Gateway time per message and queue age (s)',
        left: [
          emf('process_seconds', 'gateway', 'p50', 'process p50'),
          emf('process_seconds', 'gateway', 'p99', 'process p99'),
          emf('queue_age_seconds', 'gateway', 'p99', 'queue age p99'),
        ],
        right: [
          this.requestQueue.metricApproximateAgeOfOldestMessage({
            period: minute,
            statistic: 'Maximum',
          }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Conflicts and throttles',
        left: [
          emf('nonce_conflicts_total', 'gateway', 'Sum', 'nonce conflicts'),
          emf('chain_conflicts_total', 'gateway', 'Sum', 'chain conflicts'),
          this.throttles('requester'),
          this.throttles('gateway'),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Audit findings (by code)',
        left: [search('audit_findings_total', 'service,code', 'findings')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'DLQ depth',
        left: [this.requestDeadLetterQueue, this.auditDeadLetterQueue].map((q) =>
          q.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: 'Maximum' }),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Lambda errors',
        left: [this.requester, this.gateway, this.audit].map((f) =>
          f.fn.metricErrors({ period: minute, statistic: 'Sum' }),
        ),
        width: 8,
      }),
    );
    return dashboard;
  }
}
