// Where the wiring keeps Idempotency-Key records: a SQLite file in the embedded data directory,
// the DynamoDB table in aws mode (exercised on moto in test/requester-aws.test.ts), and a clear
// configuration error when aws mode has no table (a config parsed for another part). The
// service publishes its key history at /.well-known/jwks.json.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedPaths, parseConfig } from '@countersign/contracts';
import { rotateKeyFiles } from '@countersign/signing';
import { createIdempotencyStoreFromConfig, createRequesterServiceFromConfig } from './wiring.ts';

const dir = mkdtempSync(join(tmpdir(), 'requester-wiring-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createIdempotencyStoreFromConfig', () => {
  it('embedded: <dataDir>/requester.sqlite', async () => {
    const store = createIdempotencyStoreFromConfig(
      parseConfig({ env: { COUNTERSIGN_DATA_DIR: dir } }),
    );
    expect((await store.begin('s', 'k', 'h')).state).toBe('new');
    await store.close?.();
    expect(existsSync(join(dir, 'requester.sqlite'))).toBe(true);
  });

  it('aws mode without COUNTERSIGN_IDEMPOTENCY_TABLE: CONFIG_INVALID naming it', () => {
    const config = parseConfig({
      env: { COUNTERSIGN_MODE: 'aws', COUNTERSIGN_AUDIT_QUEUE_URL: 'https://sqs.example/a' },
      part: 'audit',
    });
    expect(() => createIdempotencyStoreFromConfig(config)).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: 'COUNTERSIGN_IDEMPOTENCY_TABLE is required in aws mode',
      }),
    );
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('serves the current and the previous key with their validity, cacheable', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'requester-jwks-'));
    try {
      const config = parseConfig({
        env: { COUNTERSIGN_DATA_DIR: dataDir, COUNTERSIGN_LOG_LEVEL: 'silent' },
      });
      const service = await createRequesterServiceFromConfig(config);
      const rotated = await rotateKeyFiles(embeddedPaths(dataDir).keysDir, 'requester', {
        now: Date.now(),
        activateAfterSec: 5,
        retirePreviousAfterSec: 330,
      });
      const res = await service.app.request('/.well-known/jwks.json');
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=300');
      const body = (await res.json()) as {
        keys: { kid: string; nbf?: number; exp?: number; d?: string }[];
      };
      expect(body.keys.map((k) => k.kid)).toEqual([service.signer.kid, rotated.kid]);
      expect(body.keys[0]!.exp).toBe(rotated.retired[0]!.exp);
      expect(body.keys[1]!.nbf).toBe(rotated.nbf);
      expect(body.keys.some((k) => 'd' in k)).toBe(false);
      await service.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
