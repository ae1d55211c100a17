// Where the wiring keeps Idempotency-Key records: a SQLite file in the embedded data directory,
// the DynamoDB table in aws mode (exercised on moto in test/requester-aws.test.ts), and a clear
// configuration error when aws mode has no table (a config parsed for another part).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@countersign/contracts';
import { createIdempotencyStoreFromConfig } from './wiring.ts';

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
