// `npm start` as a person runs it: Ctrl-C is a SIGINT to the terminal's whole process group
// (npm, its shell, node), which is what these tests send. What is printed must be true.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { busCount, cleanEnv } from '../testing/demo-dir.ts';

const root = resolve(import.meta.dirname, '../../../..');
const CLI = join(root, 'bin/countersign.mjs');

interface Run {
  /** npm's exit: npm itself dies of the SIGINT (null); its output is node's, read to the end. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `npm start --silent -- ARGS` in its own process group; `ctrlC` fires when `when` holds. */
function npmStart(
  dataDir: string,
  args: readonly string[],
  when: (out: { stdout: string; stderr: string }) => boolean,
): Promise<Run> {
  const env = cleanEnv();
  return new Promise((done, fail) => {
    const child = spawn('npm', ['start', '--silent', '--', '--data-dir', dataDir, ...args], {
      cwd: root,
      env,
      detached: true, // a process group of its own, like a terminal's foreground job
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (b: Buffer) => (out.stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out.stderr += b.toString()));
    let sent = false;
    const timer = setInterval(() => {
      if (!sent && when(out)) {
        sent = true;
        process.kill(-child.pid!, 'SIGINT');
      }
    }, 50);
    child.on('error', fail);
    // 'close', not 'exit': node still writes its summary after npm is gone.
    child.on('close', (code, signal) => {
      clearInterval(timer);
      done({ code, signal, ...out });
    });
  });
}

describe('npm start and Ctrl-C', () => {
  it('mid-run: says what was done and that the rest continues, and gives no verdict', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'countersign-ctrlc-'));
    const run = await npmStart(dataDir, ['--count', '3000'], () => busCount(dataDir) >= 100);
    expect(run.code ?? run.signal, run.stderr.slice(-2000)).toMatch(/^(130|SIGINT)$/);
    expect(run.stdout).toMatch(/^countersign demo \(embedded\) — interrupted after /m);
    expect(run.stdout).toMatch(/^ {4}submitted +\d+: \d+ via the HTTP API/m);
    expect(run.stdout).toMatch(/^ {4}receipts +\d+ so far$/m);
    expect(run.stdout).toMatch(/^ {4}no receipt yet +\d+: still in the queue/m);
    expect(run.stdout).toContain('Interrupted: nothing was judged');
    expect(run.stdout).toContain('the rest is processed');
    // No verdict that was not computed: no replay, chain, reconciliation or exactly-once line.
    const table = run.stdout.slice(0, run.stdout.indexOf('Interrupted:'));
    expect(table).not.toMatch(/chain|CLEAN|exactly once|audit replay|reconciliation/);
    expect(run.stdout).not.toMatch(/expectations|FAIL|matched/);
  }, 120_000);

  it('--keep-running, Ctrl-C after the summary: the full final summary; a second start meanwhile exits 3', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'countersign-keep-'));
    let second: ReturnType<typeof spawnSync> | undefined;
    const run = await npmStart(dataDir, ['--count', '30', '--keep-running'], (o) => {
      if (!o.stderr.includes('Ctrl-C to stop.')) return false;
      // While the first one runs: a second demo on the same data directory.
      second = spawnSync(process.execPath, [CLI, 'start', '--data-dir', dataDir], {
        env: cleanEnv(),
        encoding: 'utf8',
        timeout: 60_000,
      });
      return true;
    });
    expect(second?.status).toBe(3);
    expect(String(second?.stderr)).toMatch(
      /countersign start: another process holds the (demo|gateway) role of .*\(pid \d+/,
    );
    expect(run.code ?? run.signal, run.stderr.slice(-2000)).toMatch(/^(0|SIGINT)$/);
    expect(run.stdout).toMatch(/^countersign demo \(embedded\)$/m);
    expect(run.stdout).toMatch(/^ {4}chain +intact$/m);
    expect(run.stdout).toContain(
      'everything matched: signed, verified, executed once, receipted and audited.',
    );
    // The curl example names the key's file; the key itself is never printed.
    expect(run.stderr).toContain(`$(cat ${join(dataDir, 'demo-api-key')})`);
    expect(run.stderr).toMatch(/operator page: http:\/\/127\.0\.0\.1:\d+\/operator\/ /);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/cs_[A-Za-z0-9_-]{20,}/);
  }, 120_000);
});
