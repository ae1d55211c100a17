// Least privilege, read from the synthesized template: the exact statements of each role, the
// key policies (administrators manage, never use), and a matrix of who can use which key.
import { beforeAll, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_RECORD_ACTIONS } from '../lib/idempotency-table.ts';
import { KEY_ADMIN_ACTIONS, KEY_USE_ACTIONS } from '../lib/signing-keys.ts';
import {
  asArray,
  build,
  can,
  keyPolicyStatements,
  refsIn,
  resourcesOfType,
  roleStatements,
  type Built,
  type Statement,
  BUILD_TIMEOUT_MS,
} from './template-helpers.ts';

const getAtt = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const objects = (bucket: string, prefix: string) => ({
  'Fn::Join': ['', [getAtt(bucket), `/${prefix}`]],
});

describe('IAM, default settings', () => {
  let b: Built;
  let ids: Record<
    | 'requester'
    | 'gateway'
    | 'audit'
    | 'requesterKey'
    | 'gatewayKey'
    | 'requests'
    | 'requestsDlq'
    | 'auditQueue'
    | 'auditDlq'
    | 'table'
    | 'idempotencyTable'
    | 'bus'
    | 'archive'
    | 'requesterLogs'
    | 'gatewayLogs'
    | 'auditLogs'
    | 'bucket'
    | 'receiptsConsumer'
    | 'receiptsLogs'
    | 'receiptsQueue'
    | 'receiptsDlq',
    string
  >;
  beforeAll(() => {
    b = build();
    const s = b.stack;
    ids = {
      requester: b.id(s.requester.role),
      gateway: b.id(s.gateway.role),
      audit: b.id(s.audit.role),
      requesterKey: b.id(s.requesterKeys.current),
      gatewayKey: b.id(s.gatewayKeys.current),
      requests: b.id(s.requestQueue),
      requestsDlq: b.id(s.requestDeadLetterQueue),
      auditQueue: b.id(s.auditQueue),
      auditDlq: b.id(s.auditDeadLetterQueue),
      table: b.id(s.nonceTable),
      idempotencyTable: b.id(s.idempotency.table),
      bus: b.id(s.receipts.bus),
      archive: b.id(s.receipts.archive),
      requesterLogs: b.id(s.requester.logGroup),
      gatewayLogs: b.id(s.gateway.logGroup),
      auditLogs: b.id(s.audit.logGroup),
      bucket: b.id(s.checkpointBucket!),
      receiptsConsumer: b.id(s.requesterReceipts.consumer.role),
      receiptsLogs: b.id(s.requesterReceipts.consumer.logGroup),
      receiptsQueue: b.id(s.requesterReceipts.queue),
      receiptsDlq: b.id(s.requesterReceipts.deadLetterQueue),
    };
  }, BUILD_TIMEOUT_MS);

  it('gives the requester role exactly: its logs, Sign + GetPublicKey on its key, SendMessage, its records, the receipt key to verify', () => {
    expect(roleStatements(b.json, ids.requester)).toEqual([
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: getAtt(ids.requesterLogs),
      },
      {
        Sid: 'SignRequests',
        Effect: 'Allow',
        Action: ['kms:Sign', 'kms:GetPublicKey'],
        Resource: getAtt(ids.requesterKey),
      },
      {
        Sid: 'EnqueueRequests',
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Resource: getAtt(ids.requests),
      },
      {
        Sid: 'IdempotencyRecords',
        Effect: 'Allow',
        Action: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
        ],
        Resource: getAtt(ids.idempotencyTable),
      },
      {
        Sid: 'ReadGatewayPublicKeys',
        Effect: 'Allow',
        Action: 'kms:GetPublicKey',
        Resource: getAtt(ids.gatewayKey),
      },
    ]);
  });

  it("gives the requester's receipts consumer exactly: its logs, its queue, txn# items, the receipt key to verify", () => {
    expect(roleStatements(b.json, ids.receiptsConsumer)).toEqual([
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: getAtt(ids.receiptsLogs),
      },
      {
        Sid: 'ConsumeRequesterReceipts',
        Effect: 'Allow',
        Action: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        Resource: getAtt(ids.receiptsQueue),
      },
      {
        Sid: 'StoreOrderReceipts',
        Effect: 'Allow',
        Action: 'dynamodb:UpdateItem',
        Resource: getAtt(ids.idempotencyTable),
        // Only the order items: never an idempotency record (they hold signed tokens).
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['txn#*'] } },
      },
      {
        Sid: 'ReadGatewayPublicKeys',
        Effect: 'Allow',
        Action: 'kms:GetPublicKey',
        Resource: getAtt(ids.gatewayKey),
      },
    ]);
    // No read of the table (GetItem would read idempotency records), no signing, no requests.
    for (const action of [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:DeleteItem',
      'dynamodb:Scan',
    ]) {
      expect(can(b.json, ids.receiptsConsumer, action, ids.idempotencyTable), action).toBe(false);
    }
    expect(can(b.json, ids.receiptsConsumer, 'kms:Sign', ids.gatewayKey)).toBe(false);
    expect(can(b.json, ids.receiptsConsumer, 'kms:GetPublicKey', ids.requesterKey)).toBe(false);
    expect(can(b.json, ids.receiptsConsumer, 'sqs:SendMessage', ids.requests)).toBe(false);
  });

  it("lets only the receipt rule send to the requester's receipts queue and its DLQ", () => {
    const ruleId = b.id(b.stack.requesterReceipts.rule);
    for (const q of [ids.receiptsQueue, ids.receiptsDlq]) {
      const policy = Object.values(b.json.Resources).find(
        (r) =>
          r.Type === 'AWS::SQS::QueuePolicy' &&
          refsIn((r.Properties as { Queues: unknown }).Queues).includes(q),
      );
      const allows = (
        policy!.Properties as { PolicyDocument: { Statement: Statement[] } }
      ).PolicyDocument.Statement.filter((st) => st.Effect === 'Allow');
      expect(allows).toEqual([
        expect.objectContaining({
          Action: 'sqs:SendMessage',
          Principal: { Service: 'events.amazonaws.com' },
          Condition: { ArnEquals: { 'aws:SourceArn': getAtt(ruleId) } },
        }),
      ]);
    }
    for (const role of [ids.requester, ids.gateway, ids.audit, ids.receiptsConsumer]) {
      expect(can(b.json, role, 'sqs:SendMessage', ids.receiptsQueue)).toBe(false);
    }
  });

  it('lets only the requester use the idempotency table, and the requester no other table', () => {
    const reads = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:BatchGetItem'];
    for (const action of [...IDEMPOTENCY_RECORD_ACTIONS, ...reads]) {
      for (const role of [ids.gateway, ids.audit]) {
        expect(can(b.json, role, action, ids.idempotencyTable), action).toBe(false);
      }
      expect(can(b.json, ids.requester, action, ids.table), action).toBe(false);
    }
    // Exactly the item calls the adapter makes: no Scan/Query (reading every key's tokens).
    for (const action of ['dynamodb:Scan', 'dynamodb:Query', 'dynamodb:BatchWriteItem']) {
      expect(can(b.json, ids.requester, action, ids.idempotencyTable), action).toBe(false);
    }
  });

  it('gives the gateway role exactly its consume, verify, sign, nonce and publish statements', () => {
    expect(roleStatements(b.json, ids.gateway)).toEqual([
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: getAtt(ids.gatewayLogs),
      },
      {
        Sid: 'ConsumeRequests',
        Effect: 'Allow',
        Action: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        Resource: getAtt(ids.requests),
      },
      {
        Sid: 'ReadRequesterPublicKeys',
        Effect: 'Allow',
        Action: 'kms:GetPublicKey',
        Resource: getAtt(ids.requesterKey),
      },
      {
        Sid: 'SignReceipts',
        Effect: 'Allow',
        Action: ['kms:Sign', 'kms:GetPublicKey'],
        Resource: getAtt(ids.gatewayKey),
      },
      {
        Sid: 'NoncesAndChainHeads',
        Effect: 'Allow',
        Action: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:ConditionCheckItem',
        ],
        Resource: getAtt(ids.table),
      },
      {
        Sid: 'PublishReceipts',
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Resource: getAtt(ids.bus),
      },
      {
        Sid: 'WriteCheckpoints',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: objects(ids.bucket, 'checkpoints/*'),
      },
      {
        Sid: 'ReadNewestCheckpoints',
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: objects(ids.bucket, 'checkpoints/*'),
      },
      {
        Sid: 'ListOwnCheckpoints',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: getAtt(ids.bucket),
        Condition: { StringLike: { 's3:prefix': ['checkpoints/*'] } },
      },
    ]);
  });

  it('gives the audit role exactly: consume the audit queue, GetPublicKey on both keys', () => {
    expect(roleStatements(b.json, ids.audit)).toEqual([
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: getAtt(ids.auditLogs),
      },
      {
        Sid: 'ConsumeReceipts',
        Effect: 'Allow',
        Action: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        Resource: getAtt(ids.auditQueue),
      },
      {
        Sid: 'ReadPublicKeys',
        Effect: 'Allow',
        Action: 'kms:GetPublicKey',
        Resource: [getAtt(ids.requesterKey), getAtt(ids.gatewayKey)],
      },
      {
        Sid: 'ReadCheckpoints',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: objects(ids.bucket, 'checkpoints/*'),
      },
      {
        Sid: 'ListCheckpoints',
        Effect: 'Allow',
        Action: ['s3:ListBucket', 's3:ListBucketVersions'],
        Resource: getAtt(ids.bucket),
        Condition: { StringLike: { 's3:prefix': ['checkpoints/*'] } },
      },
    ]);
  });

  it('lets only the gateway role write checkpoints, and nobody delete one (bucket policy)', () => {
    const policy = Object.values(b.json.Resources).find((r) => r.Type === 'AWS::S3::BucketPolicy')!
      .Properties as { Bucket: unknown; PolicyDocument: { Statement: Statement[] } };
    expect(refsIn(policy.Bucket)).toEqual([ids.bucket]);
    const bySid = Object.fromEntries(policy.PolicyDocument.Statement.map((st) => [st.Sid, st]));
    expect(bySid.OnlyTheGatewayWritesCheckpoints).toEqual({
      Sid: 'OnlyTheGatewayWritesCheckpoints',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:PutObject',
      Resource: objects(ids.bucket, '*'),
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': getAtt(ids.gateway) } },
    });
    expect(bySid.CheckpointsAreNeverDeleted).toMatchObject({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
    });
    // The requester role has no statement on the bucket at all.
    expect(can(b.json, ids.requester, 's3:PutObject', ids.bucket)).toBe(false);
    expect(can(b.json, ids.requester, 's3:GetObject', ids.bucket)).toBe(false);
  });

  it('attaches no managed or inline policies to any role and uses no "*" resource', () => {
    for (const roleId of resourcesOfType(b.json, 'AWS::IAM::Role')) {
      const props = b.json.Resources[roleId]!.Properties!;
      expect(props.ManagedPolicyArns).toBeUndefined();
      expect(props.Policies).toBeUndefined();
      for (const s of roleStatements(b.json, roleId)) {
        expect(asArray(s.Resource)).not.toContain('*');
        expect(asArray(s.Action).some((a) => a.endsWith('*'))).toBe(false);
      }
    }
  });

  it('the requester role can only read the receipt key (to verify receipts), never use it', () => {
    expect(can(b.json, ids.requester, 'kms:Verify', ids.requesterKey)).toBe(false);
    expect(can(b.json, ids.requester, 'kms:Decrypt', ids.requesterKey)).toBe(false);
    for (const action of [...KEY_USE_ACTIONS, ...KEY_ADMIN_ACTIONS]) {
      if (action === 'kms:GetPublicKey') continue;
      expect(can(b.json, ids.requester, action, ids.gatewayKey), action).toBe(false);
    }
    // Named in the receipt key's policy only as a reader of its public key.
    const gatewayKeyPolicy = keyPolicyStatements(b.json, ids.gatewayKey);
    expect(
      gatewayKeyPolicy.filter((s) => refsIn(s.Principal).includes(ids.requester)).map((s) => s.Sid),
    ).toEqual(['ReadPublicKey']);
  });

  it('the gateway cannot sign with the requester key', () => {
    expect(can(b.json, ids.gateway, 'kms:Sign', ids.requesterKey)).toBe(false);
    expect(can(b.json, ids.gateway, 'kms:GetPublicKey', ids.requesterKey)).toBe(true);
  });

  it('matches the key-use matrix: Sign only for the owner, GetPublicKey for verifiers', () => {
    const roles = {
      requester: ids.requester,
      gateway: ids.gateway,
      audit: ids.audit,
      receipts: ids.receiptsConsumer,
    };
    const keys = { requesterKey: ids.requesterKey, gatewayKey: ids.gatewayKey };
    const matrix: Record<string, string[]> = {};
    for (const [roleName, roleId] of Object.entries(roles)) {
      for (const [keyName, keyId] of Object.entries(keys)) {
        matrix[`${roleName} on ${keyName}`] = KEY_USE_ACTIONS.filter((a) =>
          can(b.json, roleId, a, keyId),
        );
      }
    }
    expect(matrix).toEqual({
      'requester on requesterKey': ['kms:Sign', 'kms:GetPublicKey'],
      'requester on gatewayKey': ['kms:GetPublicKey'],
      'gateway on requesterKey': ['kms:GetPublicKey'],
      'gateway on gatewayKey': ['kms:Sign', 'kms:GetPublicKey'],
      'audit on requesterKey': ['kms:GetPublicKey'],
      'audit on gatewayKey': ['kms:GetPublicKey'],
      'receipts on requesterKey': [],
      'receipts on gatewayKey': ['kms:GetPublicKey'],
    });
  });

  it('key policies: administrators manage and never use; signing is limited to the alg', () => {
    for (const [keyId, signer, readers] of [
      [ids.requesterKey, ids.requester, [ids.requester, ids.gateway, ids.audit]],
      [ids.gatewayKey, ids.gateway, [ids.gateway, ids.audit, ids.requester, ids.receiptsConsumer]],
    ] as const) {
      const statements = keyPolicyStatements(b.json, keyId);
      expect(statements.map((s) => s.Sid)).toEqual([
        'KeyAdministration',
        'ReadPublicKey',
        'SignWithCurrentKey',
      ]);
      const [admin, read, sign] = statements as [Statement, Statement, Statement];
      expect(asArray(admin.Action)).toEqual([...KEY_ADMIN_ACTIONS]);
      expect(asArray(admin.Action).filter((a) => a.includes('*'))).toEqual([]);
      for (const use of KEY_USE_ACTIONS) expect(asArray(admin.Action)).not.toContain(use);
      // Default administrator: the account root (delegation to IAM), never a function role.
      expect(JSON.stringify(admin.Principal)).toContain(':root');
      expect(refsIn(admin.Principal)).toEqual([]);
      expect(read.Action).toBe('kms:GetPublicKey');
      expect(refsIn(read.Principal)).toEqual(readers);
      expect(sign.Action).toBe('kms:Sign');
      expect(refsIn(sign.Principal)).toEqual([signer]);
      expect(sign.Condition).toEqual({
        StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256' },
      });
      // Nothing in any key policy grants kms:* or a wildcard principal.
      for (const s of statements) {
        expect(asArray(s.Action)).not.toContain('kms:*');
        expect(JSON.stringify(s.Principal)).not.toContain('"*"');
      }
    }
  });

  it('lets only the receipt rule send to the audit queue and its DLQ', () => {
    const ruleId = b.id(b.stack.receipts.rule);
    for (const q of [ids.auditQueue, ids.auditDlq]) {
      const policy = Object.values(b.json.Resources).find(
        (r) =>
          r.Type === 'AWS::SQS::QueuePolicy' &&
          refsIn((r.Properties as { Queues: unknown }).Queues).includes(q),
      );
      const statements = (policy!.Properties as { PolicyDocument: { Statement: Statement[] } })
        .PolicyDocument.Statement;
      const allows = statements.filter((s) => s.Effect === 'Allow');
      expect(allows).toHaveLength(1);
      expect(allows[0]).toMatchObject({
        Action: 'sqs:SendMessage',
        Principal: { Service: 'events.amazonaws.com' },
        Condition: { ArnEquals: { 'aws:SourceArn': getAtt(ruleId) } },
      });
    }
    // And no role can send to them.
    for (const role of [ids.requester, ids.gateway, ids.audit, ids.receiptsConsumer]) {
      expect(can(b.json, role, 'sqs:SendMessage', ids.auditQueue)).toBe(false);
    }
  });
});

describe('IAM, key rotation (requesterKeys=1,2; gatewayKeys=1,2)', () => {
  let b: Built;
  beforeAll(() => {
    b = build({
      requesterKeys: [
        { version: 1, keySpec: 'ECC_NIST_P256' },
        { version: 2, keySpec: 'ECC_NIST_P384' },
      ],
      gatewayKeys: [
        { version: 1, keySpec: 'ECC_NIST_P256' },
        { version: 2, keySpec: 'ECC_NIST_P256' },
      ],
    });
  }, BUILD_TIMEOUT_MS);

  it('signs only with the newest key and keeps the old one readable for verifiers', () => {
    const [oldKey, newKey] = b.stack.requesterKeys.keys.map((k) => b.id(k)) as [string, string];
    const requester = b.id(b.stack.requester.role);
    const gateway = b.id(b.stack.gateway.role);
    const audit = b.id(b.stack.audit.role);
    expect(can(b.json, requester, 'kms:Sign', newKey)).toBe(true);
    expect(can(b.json, requester, 'kms:Sign', oldKey)).toBe(false);
    // Its /.well-known/jwks.json still lists the old key.
    expect(can(b.json, requester, 'kms:GetPublicKey', oldKey)).toBe(true);
    expect(keyPolicyStatements(b.json, oldKey).map((s) => s.Sid)).toEqual([
      'KeyAdministration',
      'ReadPublicKey',
    ]);
    expect(keyPolicyStatements(b.json, newKey)[2]?.Condition).toEqual({
      StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_384' },
    });
    for (const role of [gateway, audit]) {
      expect(can(b.json, role, 'kms:GetPublicKey', oldKey)).toBe(true);
      expect(can(b.json, role, 'kms:GetPublicKey', newKey)).toBe(true);
    }
    // The alias follows the newest key; the env names it and its alg.
    b.template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/countersign/requester',
      TargetKeyId: getAtt(newKey),
    });
    b.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          COUNTERSIGN_REQUESTER_KMS_KEY_ID: getAtt(newKey),
          COUNTERSIGN_REQUESTER_ALG: 'ES384',
        },
      },
    });
  });

  it('the audit keeps reading every receipt key generation', () => {
    const audit = b.id(b.stack.audit.role);
    const gateway = b.id(b.stack.gateway.role);
    for (const key of b.stack.gatewayKeys.keys) {
      expect(can(b.json, audit, 'kms:GetPublicKey', b.id(key))).toBe(true);
      // The gateway's start-up head check verifies checkpoints of every generation.
      expect(can(b.json, gateway, 'kms:GetPublicKey', b.id(key))).toBe(true);
      expect(can(b.json, audit, 'kms:Sign', b.id(key))).toBe(false);
    }
    expect(b.stack.gatewayKeys.keys).toHaveLength(2);
  });
});

describe('IAM, optional features', () => {
  let b: Built;
  let plain: Built;
  beforeAll(() => {
    plain = build();
    b = build({
      checkpointBucket: true,
      auditReplay: true,
      tableEncryption: 'customer-managed',
      keyAdminArns: ['arn:aws:iam::111122223333:role/KeyAdmins'],
      rsaAlg: 'PS256',
      requesterKeys: [{ version: 1, keySpec: 'RSA_2048' }],
    });
  }, BUILD_TIMEOUT_MS);

  it('names the configured key administrators instead of the account root', () => {
    const admin = keyPolicyStatements(b.json, b.id(b.stack.requesterKeys.current))[0]!;
    expect(admin.Principal).toEqual({ AWS: 'arn:aws:iam::111122223333:role/KeyAdmins' });
  });

  it('restricts RSA signing to the configured PS256 algorithm', () => {
    const sign = keyPolicyStatements(b.json, b.id(b.stack.requesterKeys.current))[2]!;
    expect(sign.Condition).toEqual({
      StringEquals: { 'kms:SigningAlgorithm': 'RSASSA_PSS_SHA_256' },
    });
    b.template.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'RSA_2048' });
  });

  it('gives the gateway the table key only through DynamoDB', () => {
    const statements = roleStatements(b.json, b.id(b.stack.gateway.role));
    const tableKey = statements.find((s) => s.Sid === 'NonceTableEncryption');
    expect(tableKey).toMatchObject({
      Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      Resource: getAtt(b.id(b.stack.nonceTableKey!)),
    });
    expect(JSON.stringify(tableKey!.Condition)).toContain('kms:ViaService');
    // The requester and audit get nothing on it.
    for (const role of [b.stack.requester.role, b.stack.audit.role]) {
      expect(can(b.json, b.id(role), 'kms:Decrypt', b.id(b.stack.nonceTableKey!))).toBe(false);
    }
  });

  it('gives the requester (and its receipts consumer) the table key only through DynamoDB, nobody else', () => {
    const key = b.id(b.stack.idempotency.key!);
    const statements = roleStatements(b.json, b.id(b.stack.requester.role));
    expect(statements.find((s) => s.Sid === 'IdempotencyTableEncryption')).toMatchObject({
      Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      Resource: getAtt(key),
      Condition: { StringEquals: { 'kms:ViaService': expect.anything() } },
    });
    const consumer = roleStatements(b.json, b.id(b.stack.requesterReceipts.consumer.role));
    expect(consumer.find((s) => s.Sid === 'RequesterTableEncryption')).toMatchObject({
      Resource: getAtt(key),
      Condition: { StringEquals: { 'kms:ViaService': expect.anything() } },
    });
    for (const role of [b.stack.gateway.role, b.stack.audit.role]) {
      expect(can(b.json, b.id(role), 'kms:Decrypt', key)).toBe(false);
    }
  });

  it('lets the gateway write and the audit read checkpoints, nothing else on the bucket', () => {
    const bucket = b.id(b.stack.checkpointBucket!);
    const gateway = roleStatements(b.json, b.id(b.stack.gateway.role)).filter((s) =>
      refsIn(s.Resource).includes(bucket),
    );
    expect(gateway.map((s) => [s.Sid, s.Action])).toEqual([
      ['WriteCheckpoints', 's3:PutObject'],
      ['ReadNewestCheckpoints', 's3:GetObject'],
      ['ListOwnCheckpoints', 's3:ListBucket'],
    ]);
    const audit = roleStatements(b.json, b.id(b.stack.audit.role)).filter((s) =>
      refsIn(s.Resource).includes(bucket),
    );
    expect(audit.map((s) => [s.Sid, s.Action])).toEqual([
      ['ReadCheckpoints', ['s3:GetObject', 's3:GetObjectVersion']],
      ['ListCheckpoints', ['s3:ListBucket', 's3:ListBucketVersions']],
    ]);
    expect(can(b.json, b.id(b.stack.requester.role), 's3:PutObject', bucket)).toBe(false);
    // Off on request: no bucket, no statement naming one.
    const off = build({ checkpointBucket: false });
    expect(off.stack.checkpointBucket).toBeUndefined();
    expect(JSON.stringify(off.json)).not.toContain('s3:');
  });

  it('lets the audit start replays from the archive only when enabled', () => {
    const audit = roleStatements(b.json, b.id(b.stack.audit.role));
    expect(audit.find((s) => s.Sid === 'StartReplay')).toEqual({
      Sid: 'StartReplay',
      Effect: 'Allow',
      Action: 'events:StartReplay',
      Resource: getAtt(b.id(b.stack.receipts.archive)),
    });
    expect(audit.find((s) => s.Sid === 'ResolveReplayDestination')).toEqual({
      Sid: 'ResolveReplayDestination',
      Effect: 'Allow',
      Action: 'events:DescribeEventBus',
      Resource: getAtt(b.id(b.stack.receipts.bus)),
    });
    expect(audit.find((s) => s.Sid === 'DescribeReplay')?.Action).toBe('events:DescribeReplay');
    expect(
      roleStatements(plain.json, plain.id(plain.stack.audit.role)).some((s) =>
        asArray(s.Action).some((a) => a.includes('Replay')),
      ),
    ).toBe(false);
  });
});
