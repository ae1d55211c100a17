// The AWS checkpoint store against moto (issue 14): an S3 bucket with versioning and Object Lock
// (compliance retention), written by the gateway with conditional puts, read by audit version by
// version; the audit of an EventBridge archive that lost its tail; the gateway's start-up head
// check against DynamoDB (issue 13 F4).
//
// What moto 5.2.5 supports here: Object Lock (bucket default retention applied to each new
// version, DeleteObject of a locked version refused), versioning and ListObjectVersions, delete
// markers, `If-None-Match: *` on PutObject, the lock mode and date on HeadObject. What it does
// not: GetObjectRetention (its server mode answers with the object's body), and bucket policies
// and IAM are not enforced (no identity on requests), so "only the gateway role writes, nobody
// deletes" is asserted on the synthesized template (infra/test/iam.test.ts), not here.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectLockConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  AuditReport,
  CheckpointClaims,
  TokenTypes,
  checkpointObjectKey,
  parseConfig,
} from '@countersign/contracts';
import {
  createAuditFromConfig,
  createAuditVerifiers,
  createAuditor,
  createSyntheticKit,
  s3Checkpoints,
} from '@countersign/audit';
import {
  createCheckpointer,
  createGatewayFromConfig,
  createS3CheckpointStore,
  silentLogger,
} from '@countersign/exchange-gateway';
import { delivery, newEs256Signer, orderToken } from '@countersign/exchange-gateway/testing';
import type { Signer } from '@countersign/signing';
import { createEventBridgeBus, createSqsQueue } from '@countersign/transport';
import { createVerifier, decodeUnverified, staticKeys } from '@countersign/verifier';
import { clientConfig, uniqueName } from './support/aws.ts';
import { createAwsStack, routeReceiptsToQueue } from './support/aws-stack.ts';

let s3: S3Client;

/** A bucket as the CDK app makes it: versioned, Object Lock, compliance retention. */
async function lockedBucket(): Promise<string> {
  const bucket = uniqueName('cs-checkpoints');
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  await s3.send(
    new PutObjectLockConfigurationCommand({
      Bucket: bucket,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 1 } },
      },
    }),
  );
  return bucket;
}

const head = (seq: number) => ({ stream: 'gw-s3/0', seq, hash: String(seq).padStart(43, 'A') });
const seqOf = (token: string) => CheckpointClaims.parse(decodeUnverified(token)).seq;

beforeAll(() => {
  s3 = new S3Client({ ...clientConfig(), forcePathStyle: true });
});

describe('S3 checkpoint store (Object Lock) on moto', () => {
  it('appends once per index, reads the newest first, and keeps two writers on one chain', async () => {
    const bucket = await lockedBucket();
    const signer = await newEs256Signer();
    const store = createS3CheckpointStore({ client: s3, bucket });
    const clock = { now: () => Date.now() };
    const a = createCheckpointer({ gatewayId: 'gw-s3', signer, store, every: 5, clock });
    const b = createCheckpointer({ gatewayId: 'gw-s3', signer, store, every: 5, clock });
    await a.writeNow(head(5));
    await b.writeNow(head(8)); // reads #1 from S3, appends #2
    await a.writeNow(head(9)); // its #2 is refused (412), it re-reads #2 and appends #3
    await a.writeNow(head(7)); // never backwards
    const newest = await store.recent('gw-s3/0', 10);
    expect(newest.map((c) => [c.index, seqOf(c.token)])).toEqual([
      [3, 9],
      [2, 8],
      [1, 5],
    ]);
    expect(await store.append('gw-s3/0', { index: 3, token: 'x.y.z' })).toBe(false);
    expect(await store.streams()).toEqual(['gw-s3/0']);
    // Every version carries the bucket's compliance retention; a locked version cannot go.
    // (moto's server mode does not route GetObjectRetention; HeadObject shows the lock.)
    const key = checkpointObjectKey('gw-s3/0', 1);
    const locked = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(locked.ObjectLockMode).toBe('COMPLIANCE');
    expect(locked.ObjectLockRetainUntilDate!.getTime()).toBeGreaterThan(Date.now());
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
    await expect(
      s3.send(
        new DeleteObjectCommand({
          Bucket: bucket,
          Key: key,
          VersionId: versions.Versions![0]!.VersionId,
        }),
      ),
    ).rejects.toThrow();
    // The chain verifies with the gateway's key, each link naming the one before.
    const verifier = createVerifier({
      keys: staticKeys({ keys: [signer.publicJwk] }),
      issuers: ['gw-s3'],
      audience: null,
      typ: TokenTypes.CHECKPOINT,
    });
    for (const c of newest) await verifier.verify(c.token);
  });

  it('audit reads every version: a checkpoint written over or delete-marked is a finding', async () => {
    const bucket = await lockedBucket();
    const kit = await createSyntheticKit({
      gatewayId: 'gw-s3',
      requesterId: 'req-s3',
      startTime: 1_780_000_000,
    });
    for (let i = 0; i < 3; i++) await kit.gateway.emit();
    const store = createS3CheckpointStore({ client: s3, bucket });
    const c1 = await kit.gateway.checkpoint('gw-s3/0');
    const c2 = await kit.gateway.checkpoint('gw-s3/0');
    expect(await store.append('gw-s3/0', { index: 1, token: c1 })).toBe(true);
    expect(await store.append('gw-s3/0', { index: 2, token: c2 })).toBe(true);
    const audit = async () => {
      const auditor = createAuditor({
        verifiers: createAuditVerifiers({
          gatewayKeys: staticKeys(kit.gatewayJwks),
          requesterKeys: staticKeys(kit.requesterJwks),
          gateways: ['gw-s3'],
          requesters: ['req-s3'],
        }),
        clockSkewSec: 30,
        clock: { now: () => Date.now() },
        scope: { kind: 'partial', checkpointsUntil: 0 },
      });
      await auditor.addCheckpoints(await s3Checkpoints({ client: s3, bucket }).list());
      return auditor.finish({ kind: 'events', from: null, to: null, gateway: null });
    };
    expect((await audit()).clean).toBe(true);
    // Someone with write access puts another object under #1 (a new version), and marks #2 deleted.
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: checkpointObjectKey('gw-s3/0', 1), Body: c2 }),
    );
    await s3.send(
      new DeleteObjectCommand({ Bucket: bucket, Key: checkpointObjectKey('gw-s3/0', 2) }),
    );
    const report = await audit();
    expect(report.findings.map((f) => [f.code, f.message]).sort()).toEqual([
      ['CHECKPOINT_CHAIN_BROKEN', 'checkpoint #1 was written over (more than one version)'],
      ['CHECKPOINT_CHAIN_BROKEN', 'checkpoint #2 carries a delete marker'],
      ['CHECKPOINT_CHAIN_BROKEN', 'checkpoint #2 is stored as #1'],
      ['CHECKPOINT_CHAIN_BROKEN', 'checkpoint #2 was written over (more than one version)'],
    ]);
  });

  it('an EventBridge archive that lost its tail: TAIL_TRUNCATED against the S3 checkpoint', async () => {
    const stack = await createAwsStack();
    const bucket = await lockedBucket();
    const eb = new EventBridgeClient(clientConfig());
    const sqs = new SQSClient(clientConfig());
    const kit = await createSyntheticKit({
      gatewayId: 'gw-s3',
      requesterId: 'req-s3',
      startTime: Math.floor(Date.now() / 1000) - 600,
      policy: { version: 'p'.repeat(43), maxNotional: '5000' },
    });
    const details = [];
    for (let i = 0; i < 20; i++) details.push((await kit.gateway.emit()).detail);
    await createS3CheckpointStore({ client: s3, bucket }).append('gw-s3/0', {
      index: 1,
      token: await kit.gateway.checkpoint('gw-s3/0'),
    });
    // Only the first 15 reach the archive (the rule's target detached, as in audit-replay).
    await eb.send(
      new RemoveTargetsCommand({
        Rule: `${stack.name}-receipts`,
        EventBusName: stack.busName,
        Ids: ['audit'],
      }),
    );
    const bus = createEventBridgeBus({ client: eb, busName: stack.busName });
    for (let i = 0; i < 15; i += 5) await bus.publish(details.slice(i, i + 5));
    await routeReceiptsToQueue(eb, sqs, {
      busName: stack.busName,
      ruleName: `${stack.name}-receipts`,
      queueUrl: stack.auditQueueUrl,
    });
    const runtime = createAuditFromConfig(
      parseConfig({
        env: {
          ...stack.env,
          COUNTERSIGN_GATEWAY_ID: 'gw-s3',
          COUNTERSIGN_REQUESTER_ID: 'req-s3',
          COUNTERSIGN_CHECKPOINT_BUCKET: bucket,
        },
        part: 'audit',
      }),
      {
        verifiers: createAuditVerifiers({
          gatewayKeys: staticKeys(kit.gatewayJwks),
          requesterKeys: staticKeys(kit.requesterJwks),
          gateways: ['gw-s3'],
          requesters: ['req-s3'],
        }),
        eventBridge: eb,
        s3,
        queue: createSqsQueue({ client: sqs, queueUrl: stack.auditQueueUrl, maxReceives: 10 }),
        replayQuietMs: 2000,
        state: { load: () => Promise.resolve(new Map()), save: () => Promise.resolve() },
      },
    );
    const report = AuditReport.parse(await runtime.replay({}));
    await runtime.close();
    expect(report.source).toMatchObject({ kind: 'eventbridge-replay', from: null, to: null });
    expect(report.summary.receipts).toBe(15);
    expect(report.findings).toEqual([
      expect.objectContaining({
        code: 'TAIL_TRUNCATED',
        message: 'checkpoint #1 names seq 20, but the last receipt seen is 15',
      }),
    ]);
  });

  it('the gateway on AWS checkpoints to S3 and refuses to start when DynamoDB lost a head', async () => {
    const stack = await createAwsStack();
    const bucket = await lockedBucket();
    const requester: Signer = await newEs256Signer();
    const config = parseConfig({
      env: {
        ...stack.env,
        COUNTERSIGN_GATEWAY_ID: 'gw-s3',
        COUNTERSIGN_CHECKPOINT_BUCKET: bucket,
        COUNTERSIGN_POLICIES: JSON.stringify([
          {
            id: 'req-s3',
            accounts: ['acct-1'],
            symbols: ['BTC-USD'],
            maxNotional: '100000',
            jwks: { keys: [requester.publicJwk] },
          },
        ]),
      },
      part: 'gateway',
    });
    const clients = {
      s3,
      dynamodb: new DynamoDBClient(clientConfig()),
    };
    const gw = await createGatewayFromConfig(config, { logger: silentLogger, clients });
    for (let i = 0; i < 3; i++) {
      const token = await orderToken(requester, { iss: 'req-s3', sub: 'acct-1', aud: 'gw-s3' });
      await gw.processor.process(delivery(token, 'acct-1'));
    }
    await gw.close(); // graceful stop: a checkpoint at seq 3 in S3
    const newest = await createS3CheckpointStore({ client: s3, bucket }).recent('gw-s3/0', 1);
    expect(seqOf(newest[0]!.token)).toBe(3);
    await clients.dynamodb.send(
      new DeleteItemCommand({ TableName: stack.tableName, Key: { pk: { S: 'stream#gw-s3/0' } } }),
    );
    await expect(
      createGatewayFromConfig(config, { logger: silentLogger, clients }),
    ).rejects.toMatchObject({
      code: 'CHAIN_HEAD_MISMATCH',
      message: expect.stringContaining('is at seq 0 but its newest signed checkpoint (#1'),
    });
  });
});
