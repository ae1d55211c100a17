// The live operator page in real headless Chromium (Debian's /usr/bin/chromium through
// playwright-core), served by the requester service: it connects with the API key from the
// URL fragment, shows the accepted order, the stream heads, checkpoints and audit state it is
// given, and shows a REJECTED receipt and an audit finding recorded in the same registry (as
// the in-process gateway and audit do) within a second. Nothing outside the service's
// origin is fetched. A screenshot goes to .reports/ for humans.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@countersign/contracts';
import { startHttpServer } from './server.ts';
import type { OperatorStatus } from './operator-routes.ts';
import { createRequesterServiceFromConfig } from './wiring.ts';

const CHROMIUM = '/usr/bin/chromium';
const reportsDir = resolve(import.meta.dirname, '../../../.reports');
const KEY = 'operator-page-key';
const dir = mkdtempSync(join(tmpdir(), 'operator-page-'));
let context: BrowserContext | undefined;
let profile: string | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install it with: apt-get install chromium`);
  }
  profile = mkdtempSync(join(tmpdir(), 'cs-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    viewport: { width: 1200, height: 900 },
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe('operator page', () => {
  it('renders live from server-sent events and shows a rejection within a second', async () => {
    const config = parseConfig({
      env: {
        COUNTERSIGN_DATA_DIR: dir,
        COUNTERSIGN_LOG_LEVEL: 'silent',
        COUNTERSIGN_API_KEYS: JSON.stringify([
          { name: 'ops', sha256: createHash('sha256').update(KEY).digest('hex'), accounts: ['a'] },
        ]),
      },
    });
    // What the data directory would tell (services/cli reads it; see operator-status.test.ts).
    const status: OperatorStatus = {
      streams: [
        {
          stream: 'gw-1/p0',
          seq: 7,
          head: 'AbCdEfGhIjKl',
          at: Date.UTC(2026, 0, 2, 3, 4, 5),
          checkpoint: { index: 2, seq: 5, at: Date.UTC(2026, 0, 2, 3, 4, 0) },
          behind: 2,
          audited: 6,
        },
      ],
      auditSavedAt: Date.UTC(2026, 0, 2, 3, 4, 6),
    };
    const service = await createRequesterServiceFromConfig(config, {
      operatorStatus: () => Promise.resolve(status),
    });
    const server = await startHttpServer(service.app, { host: '127.0.0.1', port: 0 });
    const origin = new URL(server.url).origin;
    const page = await context!.newPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    try {
      expect((await fetch(`${origin}/operator/events`)).status).toBe(401);
      const res = await service.app.request('/v1/transactions', {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          account: 'a',
          txn: {
            type: 'order',
            side: 'buy',
            symbol: 'BTC-USD',
            quantity: '1',
            limitPrice: '10',
            timeInForce: 'GTC',
          },
        }),
      });
      expect(res.status).toBe(202);

      await page.goto(`${origin}/operator/#key=${KEY}`);
      await page.waitForSelector('#conn.live');
      // A string runs in the page (this file is typed without the DOM library).
      await page.waitForFunction(
        "document.getElementById('accepted')?.textContent === '1'",
        undefined,
        {
          timeout: 2000,
        },
      );
      expect(page.url()).toBe(`${origin}/operator/`); // the key left the address bar
      expect(await page.textContent('#streams')).toContain(
        'gw-1/p0seq 7 · AbCdEfGhIjKl… · 03:04:05Z',
      );
      expect(await page.textContent('#checkpoints')).toContain(
        '#2 seq 5 · 03:04:00Z · behind 2 · audited to 6',
      );
      expect(await page.textContent('#verdict')).toBe('audit state saved');
      expect(await page.textContent('#audit-at')).toBe('as of 03:04:06Z');

      // The gateway in this process records a rejection in the same registry.
      service.metrics.count('receipts_total', { outcome: 'REJECTED', reason: 'EXPIRED' });
      await page.waitForSelector('#rejections li', { timeout: 1000 });
      expect(await page.textContent('#rejections li')).toMatch(/REJECTED EXPIRED \+1$/);
      expect(await page.textContent('#reasons')).toContain('EXPIRED');

      // The live audit in this process reports a finding: the verdict turns within a second.
      service.metrics.count('audit_findings_total', { code: 'SEQ_GAP' });
      await page.waitForSelector('#verdict.findings', { timeout: 1000 });
      expect(await page.textContent('#verdict')).toBe('FINDINGS (1)');
      expect(await page.textContent('#findings')).toContain('SEQ_GAP');

      mkdirSync(reportsDir, { recursive: true });
      await page.screenshot({ path: join(reportsDir, 'operator-page.png'), fullPage: true });
      expect(requested.length).toBeGreaterThan(0);
      expect(requested.filter((u) => !u.startsWith(`${origin}/`))).toEqual([]);
    } finally {
      await page.close();
      await server.close();
      await service.close();
    }
  });
});
