// The Lambda entry with a function-URL (API Gateway v2) event. Configuration comes from the
// environment at the first invocation; the embedded mode stands in for AWS here (the aws-mode
// wiring is covered against moto in test/requester-aws.test.ts).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { generateApiKey } from './api-keys.ts';
import { functionUrlEvent as event } from './testing/function-url.ts';

const dir = mkdtempSync(join(tmpdir(), 'requester-lambda-'));
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

describe('lambda handler', () => {
  it('builds nothing at import, then serves the API from the environment', async () => {
    const key = generateApiKey('bot', ['acct-1']);
    vi.stubEnv('COUNTERSIGN_DATA_DIR', dir);
    vi.stubEnv('COUNTERSIGN_LOG_LEVEL', 'silent');
    vi.stubEnv('COUNTERSIGN_API_KEYS', JSON.stringify([key.entry]));
    const { handler } = await import('./lambda.ts');
    expect(existsSync(join(dir, 'keys'))).toBe(false);

    const health = await handler(event('GET', '/healthz', {}, null) as never, {} as never);
    expect(health.statusCode).toBe(200);
    expect(existsSync(join(dir, 'keys', 'requester.pem'))).toBe(true);

    const body = JSON.stringify({
      account: 'acct-1',
      txn: {
        type: 'order',
        side: 'sell',
        symbol: 'BTC-USD',
        quantity: '1',
        limitPrice: '1',
        timeInForce: 'IOC',
      },
    });
    const headers = {
      'content-type': 'application/json',
      authorization: `Bearer ${key.key}`,
      'idempotency-key': 'k-1',
    };
    const first = await handler(
      event('POST', '/v1/transactions', headers, body) as never,
      {} as never,
    );
    expect(first.statusCode).toBe(202);
    const again = await handler(
      event('POST', '/v1/transactions', headers, body) as never,
      {} as never,
    );
    expect(JSON.parse(again.body)).toEqual(JSON.parse(first.body));
    const denied = await handler(
      event('POST', '/v1/transactions', { 'content-type': 'application/json' }, body) as never,
      {} as never,
    );
    expect(denied.statusCode).toBe(401);
  });
});
