// The Lambda entry with a function-URL (API Gateway v2) event. Configuration comes from the
// environment at the first invocation; the embedded mode stands in for AWS here (the aws-mode
// wiring is covered against moto in test/requester-aws.test.ts).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { generateApiKey } from './api-keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'requester-lambda-'));
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

function event(method: string, path: string, headers: Record<string, string>, body: string | null) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'abc.lambda-url.us-east-1.on.aws', ...headers },
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abc',
      requestId: 'r-1',
      routeKey: '$default',
      stage: '$default',
      time: '25/Nov/2026:16:00:00 +0000',
      timeEpoch: 1795622400000,
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
    },
  };
}

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
