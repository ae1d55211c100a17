// The root README's promises, run as written: the "Run the parts yourself" commands (parsed out
// of the README, so the test breaks when the text does) and the sample output of `npm start`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { busCount, cleanEnv } from './testing/demo-dir.ts';

const root = resolve(import.meta.dirname, '../../..');
const CLI = join(root, 'bin/countersign.mjs');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The first fenced block after `heading`, without its fences. */
function blockAfter(heading: string): string {
  const at = readme.indexOf(heading);
  if (at < 0) throw new Error(`README has no "${heading}"`);
  const open = readme.indexOf('```', at);
  const body = readme.indexOf('\n', open) + 1;
  return readme.slice(body, readme.indexOf('```', body));
}

/** Shell lines with continuations joined and comments dropped. */
function shellLines(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** The arguments of an `npx countersign …` line (`&` and a `> file` redirect stripped). */
function countersignArgs(line: string): { args: string[]; stdoutTo?: string } {
  const m = /^npx countersign (.*?)(?:\s*>\s*(\S+))?\s*&?$/.exec(line);
  if (!m) throw new Error(`not a countersign line: ${line}`);
  return { args: m[1]!.split(/\s+/), ...(m[2] ? { stdoutTo: m[2] } : {}) };
}

async function until(
  what: string,
  done: () => boolean,
  context: () => string = () => '',
  ms = 60_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Running {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
}

describe('README: Run the parts yourself', () => {
  it('init, requester, gateway and audit live on one data directory: the order is executed and audited', async () => {
    const lines = shellLines(blockAfter('### Run the parts yourself'));
    const cwd = mkdtempSync(join(tmpdir(), 'countersign-parts-'));
    // Port 0: the documented 8787 may be taken on a shared machine; the URL is read from the log.
    const env = cleanEnv();

    const [initLine, ...rest] = lines;
    const init = countersignArgs(initLine!);
    expect(init.args[0]).toBe('init');
    const initRun = spawnSync(process.execPath, [CLI, ...init.args], {
      cwd,
      env,
      encoding: 'utf8',
    });
    expect(initRun.status, initRun.stderr).toBe(0);
    expect(initRun.stdout).toMatch(/^cs_\S+\n$/);
    writeFileSync(join(cwd, init.stdoutTo!), initRun.stdout);

    const started: Running[] = [];
    // Pasted as one block, the lines run back to back: it must wait for the API to listen before
    // it posts, and for the receipt before it stops the three.
    const waitLine = rest.findIndex((l) => /^until curl -sf \S+\/healthz\b/.test(l));
    const curlAt = rest.findIndex((l) => /^JTI=\$\(curl -s -X POST /.test(l));
    const statusLine = rest.find((l) =>
      /^curl -s "\S+\/v1\/transactions\/\$JTI\?wait=\d+"/.test(l),
    );
    expect(waitLine, 'a line that waits for /healthz').toBeGreaterThan(-1);
    expect(curlAt, 'the POST, after the wait').toBeGreaterThan(waitLine);
    expect(statusLine, 'a status read that waits for the receipt').toBeDefined();
    const curlLine = rest[curlAt]!;
    try {
      for (const line of rest.filter((l) => l.startsWith('npx countersign '))) {
        const child = spawn(process.execPath, [CLI, ...countersignArgs(line).args], {
          cwd,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const r: Running = { child, stdout: '', stderr: '' };
        child.stdout.on('data', (b: Buffer) => (r.stdout += b.toString()));
        child.stderr.on('data', (b: Buffer) => (r.stderr += b.toString()));
        started.push(r);
      }
      expect(started.map((r) => r.child.spawnargs[2])).toEqual(['requester', 'gateway', 'audit']);
      const requester = started[0]!;
      let url = '';
      await until(
        'the requester to listen',
        () => {
          url = /listening on (http:\/\/\S+)/.exec(requester.stderr)?.[1] ?? '';
          return url !== '';
        },
        () => started.map((r) => r.stderr.slice(-1500)).join('\n---\n'),
      );

      // The documented curl, against the port it got.
      const body = /-d '([^']+)'/.exec(curlLine)![1]!;
      const path = /http:\/\/127\.0\.0\.1:8787(\S+)/.exec(curlLine)![1]!;
      const key = readFileSync(join(cwd, init.stdoutTo!), 'utf8').trim();
      expect(curlLine).toContain(`$(cat ${init.stdoutTo!})`);
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(202);
      const { jti } = (await res.json()) as { jti: string };

      // The documented status read, with the jti the sed of the POST line takes out.
      const sed = /sed -E 's\/(.+)\/\\1\/'\)/.exec(curlLine)![1]!;
      expect(new RegExp(sed).exec(JSON.stringify({ jti, messageId: 'm' }))?.[1]).toBe(jti);
      const statusPath = /http:\/\/127\.0\.0\.1:8787(\S+?)"/.exec(statusLine!)![1]!;
      const status = await fetch(`${url}${statusPath.replace('$JTI', jti)}`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({ jti, status: 'receipted', outcome: 'EXECUTED' });

      const dataDir = join(cwd, init.args[init.args.indexOf('--data-dir') + 1]!);
      await until('audit live to read the receipt', () => busCount(dataDir, 'audit') >= 1);
      expect(rest.at(-1)).toMatch(/^kill -INT %1 %2 %3$/);
      for (const r of started) r.child.kill('SIGINT');
      const codes = await Promise.all(
        started.map((r) => once(r.child, 'exit').then(([c]) => c as number)),
      );
      expect(codes).toEqual([0, 0, 0]);
      expect(started[1]!.stderr).toContain('gateway stopped: 1 received, 1 done (1 executed');
      expect(started[2]!.stdout).toMatch(/^CLEAN: 1 receipts, /m);
    } finally {
      for (const r of started) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    }
  }, 120_000);
});

/** A summary line with its numbers (and the decimals of rates) made `N`: the shape. */
function shape(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\d+(\.\d+)?/g, 'N').trimEnd())
    .filter((l) => l !== '');
}

describe('README: What `npm start` shows', () => {
  it('is the shape of what `npm start` prints (numbers aside)', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'countersign-readme-'));
    const env = cleanEnv();
    const run = spawnSync(
      'npm',
      ['start', '--silent', '--', '--count', '60', '--data-dir', dataDir],
      {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 110_000,
      },
    );
    expect(run.status, run.stderr.slice(-2000)).toBe(0);
    expect(shape(run.stdout)).toEqual(shape(blockAfter('### What `npm start` shows')));
    // Nothing on stdout or stderr holds an API key.
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/cs_[A-Za-z0-9_-]{20,}/);
  }, 120_000);
});
