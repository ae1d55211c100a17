// The HTML report rendered in real headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): summary and findings are in the DOM, nothing is fetched, hostile text stays
// text. A screenshot goes to .reports/ for humans.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { AuditReport, type Clock } from '@countersign/contracts';
import { staticKeys } from '@countersign/verifier';
import { createAuditor } from './auditor.ts';
import { escapeHtml, renderHtml } from './report-html.ts';
import { createSyntheticKit } from './synthetic-gateway.ts';
import { createAuditVerifiers } from './verifiers.ts';

const CHROMIUM = '/usr/bin/chromium';
const START = 1_780_000_000;
const clock: Clock = { now: () => (START + 1000) * 1000 };
const reportsDir = resolve(import.meta.dirname, '../../../.reports');

async function buildReport(): Promise<AuditReport> {
  const kit = await createSyntheticKit({
    gatewayId: 'gw-1',
    requesterId: 'req-1',
    startTime: START,
    policy: { version: 'v'.repeat(43), maxNotional: '500' },
  });
  const auditor = createAuditor({
    verifiers: createAuditVerifiers({
      gatewayKeys: staticKeys(kit.gatewayJwks),
      requesterKeys: staticKeys(kit.requesterJwks),
      gateways: ['gw-1'],
      requesters: ['req-1'],
      clock,
    }),
    clockSkewSec: 30,
    clock,
  });
  for (let i = 1; i <= 300; i++) {
    const e = await kit.gateway.emit({
      account: `acct-${i % 4}`,
      outcome: i % 9 === 0 ? 'REJECTED' : 'EXECUTED',
      ...(i % 9 === 0 ? { reason: 'RATE_LIMITED' } : {}),
      txn: { quantity: i === 77 ? '1' : '0.001' },
    });
    if (i >= 150 && i < 160) continue; // a gap
    await auditor.ingest(e.detail);
  }
  await auditor.addCheckpoint(await kit.gateway.checkpoint('gw-1/0'));
  await auditor.ingest({ receipt: 'nope' });
  const report = auditor.finish({ kind: 'events', from: null, to: null, gateway: null });
  // Hostile text in a finding must render as text.
  report.findings.push({
    code: 'MALFORMED_EVENT',
    stream: null,
    seq: null,
    jti: null,
    message:
      '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>',
  });
  return AuditReport.parse(report);
}

let context: BrowserContext | undefined;
let profile: string | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the HTML report test needs Debian's chromium. Install it with: apt-get install chromium`,
    );
  }
  profile = mkdtempSync(join(tmpdir(), 'cs-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1200, height: 900 },
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('renderHtml', () => {
  it('escapes every HTML metacharacter', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
  });

  it('renders in headless Chromium with summary, timeline and findings, fetching nothing', async () => {
    const report = await buildReport();
    const html = renderHtml(report);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    mkdirSync(reportsDir, { recursive: true });
    const file = join(reportsDir, 'audit-report.html');
    writeFileSync(file, html);

    const page = await context!.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);

    expect(await page.title()).toBe('countersign audit report');
    expect(await page.textContent('#status')).toMatch(/FINDINGS/);
    const outcomes = await page.$$eval('#summary-outcomes tbody tr', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)),
    );
    expect(outcomes).toEqual([
      ['EXECUTED', String(report.summary.byOutcome.EXECUTED)],
      ['REJECTED', String(report.summary.byOutcome.REJECTED)],
      ['FAILED', '0'],
      ['UNKNOWN', '0'],
    ]);
    expect(await page.textContent('#summary-reasons')).toContain('RATE_LIMITED');
    expect(await page.$$eval('#summary-accounts tbody tr', (r) => r.length)).toBe(4);
    const codes = await page.$$eval('#findings tbody tr td:first-child', (tds) =>
      tds.map((td) => td.textContent),
    );
    expect(codes).toEqual(report.findings.map((f) => f.code));
    expect(codes).toEqual(
      expect.arrayContaining(['SEQ_GAP', 'POLICY_VIOLATION', 'MALFORMED_EVENT']),
    );
    // Timeline: one SVG per stream with gap/finding markers.
    expect(await page.$$eval('section.stream svg.timeline', (s) => s.length)).toBe(1);
    expect(await page.$$eval('svg.timeline .finding-mark', (m) => m.length)).toBeGreaterThan(0);
    // Hostile text stayed text: no injected element ran or exists.
    expect(await page.$$('script')).toHaveLength(0);
    expect(await page.$$('#findings img')).toHaveLength(0);
    expect(await page.textContent('#findings')).toContain(
      '<script>document.title="pwned"</script>',
    );
    expect(await page.title()).not.toBe('pwned');
    expect(requests).toEqual([pathToFileURL(file).href]);

    await page.screenshot({ path: join(reportsDir, 'audit-report.png'), fullPage: true });
    expect(existsSync(join(reportsDir, 'audit-report.png'))).toBe(true);
  });
});
