// Context parsing: CLI strings and cdk.json values both work, bad values fail with the key name.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lib/paths.ts';
import {
  CONTEXT_KEYS,
  DEFAULT_SETTINGS,
  InfraSettingsError,
  algFor,
  parseKeyVersions,
  settingsFromContext,
} from '../lib/settings.ts';

const from = (ctx: Record<string, unknown>) => settingsFromContext((k) => ctx[k]);

describe('settingsFromContext', () => {
  it('returns the defaults for an empty context', () => {
    expect(from({})).toEqual(DEFAULT_SETTINGS);
  });

  it('reads CLI strings (-c key=value)', () => {
    const s = from({
      keySpec: 'ECC_NIST_P384',
      requesterKeys: '1,2:RSA_2048',
      gatewayKeys: '3',
      rsaAlg: 'PS256',
      maxReceiveCount: '3',
      archiveRetentionDays: '30',
      gatewayTimeoutSec: '45',
      gatewayMaxConcurrency: '8',
      partitions: '4',
      checkpointBucket: 'true',
      auditReplay: 'false',
      tableEncryption: 'customer-managed',
      keyAdminArns: 'arn:aws:iam::111122223333:role/A, arn:aws:iam::111122223333:user/b',
      gatewayPolicies: '[{"id":"r"}]',
    });
    expect(s.requesterKeys).toEqual([
      { version: 1, keySpec: 'ECC_NIST_P384' },
      { version: 2, keySpec: 'RSA_2048' },
    ]);
    expect(s.gatewayKeys).toEqual([{ version: 3, keySpec: 'ECC_NIST_P384' }]);
    expect(s).toMatchObject({
      rsaAlg: 'PS256',
      maxReceiveCount: 3,
      archiveRetentionDays: 30,
      gatewayTimeoutSec: 45,
      gatewayMaxConcurrency: 8,
      partitions: 4,
      checkpointBucket: true,
      auditReplay: false,
      tableEncryption: 'customer-managed',
      keyAdminArns: ['arn:aws:iam::111122223333:role/A', 'arn:aws:iam::111122223333:user/b'],
      gatewayPolicies: '[{"id":"r"}]',
    });
  });

  it('reads cdk.json values (numbers, booleans, arrays)', () => {
    const s = from({
      requesterKeys: [1, '2'],
      maxReceiveCount: 7,
      checkpointBucket: true,
      gatewayPolicies: [{ id: 'r' }],
    });
    expect(s.requesterKeys.map((k) => k.version)).toEqual([1, 2]);
    expect(s.maxReceiveCount).toBe(7);
    expect(s.checkpointBucket).toBe(true);
    expect(s.gatewayPolicies).toBe('[{"id":"r"}]');
  });

  it.each([
    [{ keySpec: 'SYMMETRIC_DEFAULT' }, 'keySpec'],
    [{ requesterKeys: '2,1' }, 'requesterKeys'],
    [{ requesterKeys: '1,1' }, 'requesterKeys'],
    [{ gatewayKeys: '1:HMAC_256' }, 'gatewayKeys'],
    [{ gatewayKeys: '' }, 'gatewayKeys'],
    [{ maxReceiveCount: '0' }, 'maxReceiveCount'],
    [{ maxReceiveCount: '2.5' }, 'maxReceiveCount'],
    [{ gatewayTimeoutSec: '901' }, 'gatewayTimeoutSec'],
    [{ gatewayMaxConcurrency: '1' }, 'gatewayMaxConcurrency'],
    [{ gatewayBatchSize: '11' }, 'gatewayBatchSize'],
    [{ checkpointBucket: 'yes' }, 'checkpointBucket'],
    [{ tableEncryption: 'none' }, 'tableEncryption'],
    [{ rsaAlg: 'RS512' }, 'rsaAlg'],
    [{ gatewayId: 'has space' }, 'gatewayId'],
    [{ busName: 'a:b' }, 'busName'],
    [{ busName: 'x'.repeat(40) }, 'busName'],
    [{ keyAdminArns: 'arn:aws:s3:::bucket' }, 'keyAdminArns'],
    [{ gatewayPolicies: '{"id":1}' }, 'gatewayPolicies'],
    [{ gatewayPolicies: 'not json' }, 'gatewayPolicies'],
  ])('rejects %j naming %s', (ctx, key) => {
    expect(() => from(ctx)).toThrow(InfraSettingsError);
    expect(() => from(ctx)).toThrow(`context "${key}"`);
  });
});

describe('keys and algorithms', () => {
  it('maps key specs to JOSE algs', () => {
    expect(algFor('ECC_NIST_P256', 'RS256')).toBe('ES256');
    expect(algFor('ECC_NIST_P384', 'RS256')).toBe('ES384');
    expect(algFor('RSA_2048', 'RS256')).toBe('RS256');
    expect(algFor('RSA_2048', 'PS256')).toBe('PS256');
  });

  it('parses a single numeric version', () => {
    expect(parseKeyVersions('k', 4, 'RSA_2048')).toEqual([{ version: 4, keySpec: 'RSA_2048' }]);
  });
});

describe('infra/README.md', () => {
  it('documents every context key', () => {
    const readme = readFileSync(join(REPO_ROOT, 'infra', 'README.md'), 'utf8');
    for (const key of CONTEXT_KEYS) expect(readme, key).toContain(`\`${key}\``);
  });
});
