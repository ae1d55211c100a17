// The embedded pipeline end to end, in process and as the real `countersign start` process
// interrupted with SIGINT and started again.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedPaths, parseConfig } from '@countersign/contracts';
import { renderSummary } from './render.ts';
import { runDemo, type DemoSummary } from './run-demo.ts';
import { busCount } from '../testing/demo-dir.ts';

const root = resolve(import.meta.dirname, '../../../..');

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'countersign-demo-'));
}

describe('runDemo on the embedded adapters', () => {
  it('signs, verifies, executes once, receipts and audits every order and every bad apple', async () => {
    const dataDir = tempDir();
    const config = parseConfig({
      env: { COUNTERSIGN_DATA_DIR: dataDir, COUNTERSIGN_HTTP_PORT: '0' },
    });
    const summary = await runDemo({
      config,
      count: 60,
      concurrency: 8,
      signal: new AbortController().signal,
    });

    expect(summary.expectations.filter((e) => !e.ok)).toEqual([]);
    expect(summary.ok).toBe(true);
    // 60 demo orders + the original of the replayed token.
    expect(summary.receipts.byOutcome).toEqual({ EXECUTED: 61, REJECTED: 6 });
    expect(summary.receipts.rejectedByReason).toEqual({
      AUDIENCE_MISMATCH: 1,
      BAD_SIGNATURE: 1,
      EXPIRED: 1,
      NOTIONAL_TOO_HIGH: 1,
      REPLAYED: 1,
      UNKNOWN_KID: 1,
    });
    expect(summary.audit).toMatchObject({
      liveVerified: 67,
      liveFindings: 0,
      replay: { receipts: 67, findings: 0, chain: 'intact' },
      reconciliation: expect.stringMatching(/^CLEAN: 61 exchange orders, 61 matched/),
    });
    expect(summary.exactlyOnce).toEqual({
      scope: 'data directory',
      executions: 61,
      executedReceipts: 61,
      ok: true,
    });

    const paths = embeddedPaths(dataDir);
    expect(statSync(join(paths.keysDir, 'requester.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(paths.keysDir, 'gateway.pem')).mode & 0o777).toBe(0o600);
  });

  it('keeps at most maxWaiting orders waiting for their receipt (tokens must not expire queued)', async () => {
    const dataDir = tempDir();
    const config = parseConfig({
      env: { COUNTERSIGN_DATA_DIR: dataDir, COUNTERSIGN_HTTP_PORT: '0' },
    });
    let worst = 0;
    const summary = await runDemo({
      config,
      count: 300,
      concurrency: 4,
      maxWaiting: 10,
      badApples: false,
      signal: new AbortController().signal,
      onProgress: (p) => (worst = Math.max(worst, p.submitted - p.receipted)),
    });
    expect(summary.ok).toBe(true);
    // --no-bad-apples: not even the over-limit order, so no rejection to explain.
    expect(summary.receipts.byOutcome).toEqual({ EXECUTED: 300 });
    // Waiting = answered by HTTP, no receipt yet; requests still in flight may add up to 4.
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(10 + 4);
  });

  it('gives up waiting honestly: missing receipts are counted, nothing is judged on a history still being written', async () => {
    const dataDir = tempDir();
    // One message at a time on an exchange that answers in 300 ms: 40 orders take 12 s or more,
    // so a demo that waits at most 1 ms without a receipt stops with most of them unprocessed.
    const config = parseConfig({
      env: {
        COUNTERSIGN_DATA_DIR: dataDir,
        COUNTERSIGN_HTTP_PORT: '0',
        COUNTERSIGN_CONCURRENCY: '1',
      },
    });
    const lines: string[] = [];
    const summary = await runDemo({
      config,
      count: 40,
      concurrency: 8,
      badApples: false,
      stallTimeoutMs: 1,
      exchange: 'sim',
      sim: { latencyMs: 300 },
      signal: new AbortController().signal,
      log: (line) => lines.push(line),
    });
    expect(lines.some((l) => /^gave up waiting: .* receipts missing/.test(l))).toBe(true);
    expect(summary.ok).toBe(false);
    expect(summary.interrupted).toBe(false);
    expect(summary.receipts.waiting).toBeGreaterThan(0);
    expect(summary.audit.replay).toBeNull();
    expect(summary.audit.reconciliation).toBeNull();
    expect(summary.exactlyOnce).toBeNull();
    expect(summary.audit.notRun).toMatch(/receipts of this run had not arrived/);
    const byName = new Map(summary.expectations.map((e) => [e.name, e]));
    expect(byName.get('every submitted message got a receipt')?.ok).toBe(false);
    expect(byName.get('receipt chains intact')?.actual).toBe('not run');
    expect(renderSummary(summary)).not.toMatch(/broken/);
    expect(renderSummary(summary)).toMatch(/audit replay +not run: \d+ receipts of this run/);
  });

  it('on the simulator with faults, counts each UNKNOWN its follow-up receipt resolved, as the audit does', async () => {
    const dataDir = tempDir();
    const config = parseConfig({
      env: {
        COUNTERSIGN_DATA_DIR: dataDir,
        COUNTERSIGN_HTTP_PORT: '0',
        COUNTERSIGN_EXCHANGE_TIMEOUT_MS: '500',
        // A message kept for an UNKNOWN holds its account's later messages back until it returns.
        COUNTERSIGN_VISIBILITY_TIMEOUT_SEC: '5',
      },
    });
    const summary = await runDemo({
      config,
      count: 40,
      concurrency: 8,
      badApples: false,
      exchange: 'sim',
      sim: { faultRate: 0.3, seed: 7 },
      signal: new AbortController().signal,
    });
    expect(summary.expectations.filter((e) => !e.ok)).toEqual([]);
    // The archive holds one UNKNOWN receipt per follow-up (a fresh data directory).
    const unknowns = summary.audit.replay?.receipts ?? 0;
    expect(unknowns - 40).toBeGreaterThan(0);
    expect(summary.receipts.unknownResolved).toBe(unknowns - 40);
    expect(summary.receipts.byOutcome).toEqual({ EXECUTED: 40 });
    const live = summary.expectations.find((e) => e.name === 'receipts verified by live audit');
    expect(live).toMatchObject({ expected: String(unknowns), actual: String(unknowns), ok: true });
    expect(renderSummary(summary)).toMatch(
      new RegExp(
        `failed / unknown +0 / 0 \\(${unknowns - 40} UNKNOWN resolved by a follow-up receipt\\)`,
      ),
    );
  }, 60_000);

  it('with the gateway in its own process (countersign gateway on the same files)', async () => {
    const dataDir = tempDir();
    const config = parseConfig({
      env: { COUNTERSIGN_DATA_DIR: dataDir, COUNTERSIGN_HTTP_PORT: '0' },
    });
    const lines: string[] = [];
    const summary = await runDemo({
      config,
      count: 40,
      concurrency: 8,
      signal: new AbortController().signal,
      gatewayProcess: true,
      log: (line) => lines.push(line),
    });
    expect(summary.expectations.filter((e) => !e.ok)).toEqual([]);
    expect(summary.receipts.byOutcome).toEqual({ EXECUTED: 41, REJECTED: 6 });
    expect(summary.exactlyOnce).toMatchObject({ executions: 41, executedReceipts: 41, ok: true });
    expect(lines.some((l) => l.includes('own process'))).toBe(true);
    // The child was stopped by the run (SIGTERM), not left behind: its config file is the
    // only trace, and it holds hashes, not keys.
    const written = JSON.parse(readFileSync(join(dataDir, 'demo-gateway-config.json'), 'utf8')) as {
      requester: { apiKeys: { sha256: string }[] };
    };
    expect(written.requester.apiKeys[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(dataDir, 'demo-gateway-config.json')).mode & 0o777).toBe(0o600);
  });
});

function runStart(
  dataDir: string,
  args: string[],
  onSpawn?: (kill: () => void) => void,
): Promise<{ code: number | null; summary: DemoSummary }> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'services/cli/src/main.ts'), 'start', '--json', ...args],
      {
        cwd: root,
        env: { ...process.env, COUNTERSIGN_DATA_DIR: dataDir, COUNTERSIGN_HTTP_PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    onSpawn?.(() => child.kill('SIGINT'));
    child.on('error', fail);
    child.on('exit', (code) => {
      try {
        done({ code, summary: JSON.parse(out) as DemoSummary });
      } catch {
        fail(new Error(`no JSON summary on stdout (exit ${code}):\n${out}\n${err.slice(-3000)}`));
      }
    });
  });
}

describe('countersign start, interrupted and started again', () => {
  it('loses nothing, executes nothing twice and continues the chain', async () => {
    const dataDir = tempDir();
    const first = await runStart(
      dataDir,
      ['--count', '1500', '--concurrency', '32'],
      (interrupt) => {
        const timer = setInterval(() => {
          if (busCount(dataDir) >= 100) {
            clearInterval(timer);
            interrupt();
          }
        }, 50);
      },
    );
    expect(first.code).toBe(130);
    expect(first.summary.interrupted).toBe(true);
    expect(first.summary.receipts.total).toBeLessThan(first.summary.submitted.total);

    const second = await runStart(dataDir, ['--count', '20', '--no-bad-apples']);
    expect(second.summary.expectations.filter((e) => !e.ok)).toEqual([]);
    expect(second.code).toBe(0);
    // What the first run submitted but did not finish was processed by the second (the second
    // also sees receipts the first published after its audit consumer stopped).
    expect(second.summary.receipts.fromEarlierRuns).toBeGreaterThanOrEqual(
      first.summary.submitted.total - first.summary.receipts.total,
    );
    // The replay covers both runs: one receipt per message ever submitted, one chain, no finding.
    expect(second.summary.audit.replay?.receipts).toBe(
      first.summary.submitted.total + second.summary.submitted.total,
    );
    expect(second.summary.audit.replay).toMatchObject({ findings: 0, chain: 'intact' });
  }, 120_000);
});
