// `exchange=http`: the credentials key (symmetric, rotating), kms:Decrypt for the gateway role
// only and only under the encryption context naming this gateway and exchange, the SSM
// parameter read grant, the gateway's environment, and cdk-nag. Off by default.
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsSolutionsChecks } from '../lib/cdk-nag.ts';
import { CREDENTIALS_PURPOSE } from '../lib/exchange-credentials.ts';
import { KEY_ADMIN_ACTIONS } from '../lib/signing-keys.ts';
import { settingsFromContext } from '../lib/settings.ts';
import {
  BUILD_TIMEOUT_MS,
  build,
  can,
  keyPolicyStatements,
  resourcesOfType,
  roleStatements,
  type Built,
} from './template-helpers.ts';
import { CREDENTIALS_PURPOSE as RUNTIME_PURPOSE } from '@countersign/exchange-gateway';

const context = {
  StringEquals: {
    'kms:EncryptionContext:purpose': CREDENTIALS_PURPOSE,
    'kms:EncryptionContext:gateway': 'countersign-gateway',
    'kms:EncryptionContext:exchange': 'venue-a',
  },
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['purpose', 'gateway', 'exchange'] },
};

describe('exchange credentials (exchange=http)', () => {
  let b: Built;
  let keyId: string;
  const sealer = 'arn:aws:iam::111122223333:role/CredentialsOfficer';
  beforeAll(() => {
    b = build({
      exchange: 'http',
      exchangeUrl: 'https://api.venue-a.example',
      exchangeName: 'venue-a',
      exchangeSealerArns: [sealer],
    });
    keyId = b.id(b.stack.exchangeCredentials!.key);
  }, BUILD_TIMEOUT_MS);

  it('names the same context purpose as the runtime', () => {
    expect(CREDENTIALS_PURPOSE).toBe(RUNTIME_PURPOSE);
  });

  it('is a symmetric key with rotation on, retained, with an alias', () => {
    b.template.hasResource('AWS::KMS::Key', {
      Properties: {
        KeySpec: 'SYMMETRIC_DEFAULT',
        KeyUsage: 'ENCRYPT_DECRYPT',
        EnableKeyRotation: true,
      },
      DeletionPolicy: 'Retain',
    });
    b.template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/countersign/countersign-gateway/exchange-credentials',
    });
  });

  it('key policy: admins manage only, the sealer seals and the gateway opens, both under the context', () => {
    const statements = keyPolicyStatements(b.json, keyId);
    expect(statements.map((s) => s.Sid)).toEqual([
      'KeyAdministration',
      'SealCredentials',
      'OpenCredentials',
    ]);
    expect(statements[0]).toMatchObject({ Action: [...KEY_ADMIN_ACTIONS] });
    expect(statements[1]).toMatchObject({
      Action: 'kms:GenerateDataKey',
      Principal: { AWS: sealer },
      Condition: context,
    });
    expect(statements[2]).toMatchObject({
      Action: 'kms:Decrypt',
      Principal: { AWS: { 'Fn::GetAtt': [b.id(b.stack.gateway.role), 'Arn'] } },
      Condition: context,
    });
  });

  it('gateway role: Decrypt on this key under the context, GetParameter on the one parameter', () => {
    const own = roleStatements(b.json, b.id(b.stack.gateway.role)).filter((s) =>
      ['OpenExchangeCredentials', 'ReadExchangeCredentials'].includes(s.Sid ?? ''),
    );
    expect(own).toEqual([
      {
        Sid: 'OpenExchangeCredentials',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
        Condition: context,
      },
      {
        Sid: 'ReadExchangeCredentials',
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':ssm:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':parameter/countersign/countersign-gateway/exchange-credentials',
            ],
          ],
        },
      },
    ]);
  });

  it('nobody else can decrypt with it, and the gateway cannot seal', () => {
    for (const role of [b.stack.requester.role, b.stack.audit.role]) {
      expect(can(b.json, b.id(role), 'kms:Decrypt', keyId)).toBe(false);
    }
    expect(can(b.json, b.id(b.stack.gateway.role), 'kms:GenerateDataKey', keyId)).toBe(false);
    expect(can(b.json, b.id(b.stack.gateway.role), 'kms:Decrypt', keyId)).toBe(true);
  });

  it('wires HttpExchange into the gateway function, and only there', () => {
    const env = (fn: typeof b.stack.gateway) =>
      (
        b.json.Resources[b.id(fn.fn)]!.Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables;
    expect(env(b.stack.gateway)).toMatchObject({
      COUNTERSIGN_EXCHANGE: 'http',
      COUNTERSIGN_EXCHANGE_URL: 'https://api.venue-a.example',
      COUNTERSIGN_EXCHANGE_NAME: 'venue-a',
      COUNTERSIGN_EXCHANGE_CREDENTIALS: 'ssm:/countersign/countersign-gateway/exchange-credentials',
      COUNTERSIGN_EXCHANGE_KMS_KEY_ID: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
    for (const fn of [b.stack.requester, b.stack.audit]) {
      expect(Object.keys(env(fn)).some((k) => k.startsWith('COUNTERSIGN_EXCHANGE'))).toBe(false);
    }
    b.template.hasOutput('ExchangeCredentialsParameter', {
      Value: '/countersign/countersign-gateway/exchange-credentials',
    });
  });

  it('passes cdk-nag with nothing acknowledged for it', () => {
    const violations = new AwsSolutionsChecks(b.app, { verbose: true }).validateScope(b.app)
      .violations as { ruleName: string }[];
    expect(violations.map((v) => v.ruleName)).toEqual([]);
  });

  it(
    'is absent by default',
    () => {
      const plain = build();
      expect(plain.stack.exchangeCredentials).toBeUndefined();
      // Only the two signing keys.
      expect(resourcesOfType(plain.json, 'AWS::KMS::Key')).toHaveLength(2);
    },
    BUILD_TIMEOUT_MS,
  );
});

describe('exchange context settings', () => {
  const from = (ctx: Record<string, unknown>) => settingsFromContext((k) => ctx[k]);
  it('reads them, and refuses http without an https URL or with a bad parameter name', () => {
    expect(
      from({ exchange: 'http', exchangeUrl: 'https://x.example/api', exchangeName: 'venue-b' }),
    ).toMatchObject({
      exchange: 'http',
      exchangeUrl: 'https://x.example/api',
      exchangeName: 'venue-b',
    });
    expect(() => from({ exchange: 'http' })).toThrow(/exchangeUrl.*required/);
    expect(() => from({ exchange: 'http', exchangeUrl: 'http://x.example' })).toThrow(/https/);
    expect(() =>
      from({
        exchange: 'http',
        exchangeUrl: 'https://x',
        exchangeParameter: 'no-slash',
      }),
    ).toThrow(/SSM parameter path/);
    expect(() => from({ exchange: 'ftp' })).toThrow(/paper, http/);
    expect(() => from({ exchangeSealerArns: 'not-an-arn' })).toThrow(/not an IAM ARN/);
  });
});
