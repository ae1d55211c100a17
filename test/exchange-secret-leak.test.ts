// The exchange API secret never leaves the ExchangeCredentials: a full `countersign start
// --exchange sim` run at log level trace, with faults on the exchange (so the retry, timeout and
// reconciliation paths log too), must not show the secret (nor its base64 or hex) in stdout,
// stderr or any file of the data dir (receipts in the archive, nonce records, queue, the
// simulator's orders). The credentials are sealed first through the CLI, from stdin.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from './support/exchange.ts';

const CLI = fileURLToPath(new URL('../bin/countersign.mjs', import.meta.url));

function run(
  args: readonly string[],
  env: Record<string, string>,
  stdin = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('the exchange secret stays secret', () => {
  it('is absent from a full trace-level run with exchange faults: logs, errors, receipts, files', async () => {
    const secret = `SeCrEt-${randomBytes(18).toString('base64url')}`;
    const apiKey = `ApIkEy-${randomBytes(9).toString('base64url')}`;
    const forms = [
      secret,
      Buffer.from(secret).toString('base64'),
      Buffer.from(secret).toString('base64url'),
      Buffer.from(secret).toString('hex'),
    ];
    const dataDir = tempDir('leak-');
    const env = {
      COUNTERSIGN_DATA_DIR: dataDir,
      COUNTERSIGN_LOG_LEVEL: 'trace',
      COUNTERSIGN_HTTP_PORT: '0',
      COUNTERSIGN_EXCHANGE_TIMEOUT_MS: '500',
      // A message kept for an UNKNOWN holds its account's later messages back until it returns.
      COUNTERSIGN_VISIBILITY_TIMEOUT_SEC: '5',
      COUNTERSIGN_TOKEN_LIFETIME_SEC: '300',
    };
    const sealed = await run(['exchange', 'credentials', 'seal'], env, `${apiKey}\n${secret}\n`);
    expect(sealed.code, sealed.stderr).toBe(0);

    const demo = await run(
      [
        'start',
        '--exchange',
        'sim',
        '--count',
        '40',
        '--sim-fault-rate',
        '0.3',
        '--sim-seed',
        '7',
        '--json',
      ],
      env,
    );
    expect(demo.code, demo.stderr.slice(-2000)).toBe(0);
    const summary = JSON.parse(demo.stdout) as { ok: boolean; exactlyOnce: { ok: boolean } };
    expect(summary).toMatchObject({ ok: true, exactlyOnce: { ok: true } });
    // It did run at trace level, and the exchange did fail along the way.
    expect(demo.stderr).toMatch(/"level":20/);
    expect(demo.stderr).toMatch(/exchange call retried|outcome unknown/);
    expect(demo.stderr).toMatch(
      /exchange simulator: \d+ requests, \d+ orders, \d+ duplicate submissions refused, [1-9]\d* faults injected/,
    );

    const outputs = `${sealed.stdout}${sealed.stderr}${demo.stdout}${demo.stderr}`;
    for (const form of forms) expect(outputs).not.toContain(form);
    expect(outputs).not.toContain(apiKey);
    const scanned = files(dataDir);
    expect(scanned.some((f) => f.endsWith('bus.sqlite'))).toBe(true);
    for (const file of scanned) {
      const bytes = readFileSync(file);
      for (const form of forms) {
        expect(bytes.includes(Buffer.from(form)), `${form} in ${file}`).toBe(false);
      }
    }
  });
});
