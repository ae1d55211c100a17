// GET /metrics on the requester service: behind the API key, Prometheus text whose counters
// match what was asked (accepted orders, a schema refusal, a refusal for a foreign account).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@countersign/contracts';
import { createRequesterServiceFromConfig } from './wiring.ts';

const dir = mkdtempSync(join(tmpdir(), 'requester-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = 'operator-test-key';
const txn = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.5',
  limitPrice: '60000',
  timeInForce: 'GTC',
};

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  it('needs the API key and counts accepted and refused requests by reason', async () => {
    const config = parseConfig({
      env: {
        COUNTERSIGN_DATA_DIR: dir,
        COUNTERSIGN_LOG_LEVEL: 'silent',
        COUNTERSIGN_API_KEYS: JSON.stringify([
          {
            name: 'ops',
            sha256: createHash('sha256').update(KEY).digest('hex'),
            accounts: ['acct-1'],
          },
        ]),
      },
    });
    const service = await createRequesterServiceFromConfig(config);
    try {
      const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
      const post = (body: unknown) =>
        service.app.request('/v1/transactions', {
          method: 'POST',
          headers: auth,
          body: JSON.stringify(body),
        });
      expect((await post({ account: 'acct-1', txn })).status).toBe(202);
      expect((await post({ account: 'acct-1', txn })).status).toBe(202);
      expect((await post({ account: 'acct-1', txn: { ...txn, quantity: '-1' } })).status).toBe(422);
      expect((await post({ account: 'acct-2', txn })).status).toBe(403);

      expect((await service.app.request('/metrics')).status).toBe(401);
      const res = await service.app.request('/metrics', { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      const series = (result: string, reason: string) =>
        sample(text, `countersign_requests_total{result="${result}",reason="${reason}"}`);
      expect(series('accepted', 'NONE')).toBe(2);
      expect(series('refused', 'REQUEST_INVALID')).toBe(1);
      expect(series('refused', 'FORBIDDEN')).toBe(1);
      expect(sample(text, 'countersign_signatures_total{role="requester",result="ok"}')).toBe(2);
    } finally {
      await service.close();
    }
  });
});
