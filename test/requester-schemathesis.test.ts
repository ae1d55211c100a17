// The requester's OpenAPI document against the live server, by a fuzzer no one here wrote:
// schemathesis (pinned in scripts/moto-venv.sh, installed into .venv next to moto) runs every
// phase (examples, coverage, fuzzing, stateful: POST then GET the jti it answered) with all its
// checks on: no server error, every response on its schema, every schema-valid request accepted
// (the document states each constraint the server enforces), every invalid one refused, 405 with
// Allow for an undeclared method. A fixed seed keeps the run reproducible; the case count is kept
// small for the suite's time budget (a few hundred cases, about 40 s).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedRequester, type EmbeddedRequester } from './support/embedded-requester.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, '.venv', 'bin', 'schemathesis');

let live: EmbeddedRequester;

beforeAll(async () => {
  if (!existsSync(bin)) {
    throw new Error(
      `schemathesis is missing (${bin}). Run "npm test" or "bash scripts/moto-venv.sh" ` +
        '(it installs it into .venv with python3).',
    );
  }
  live = await startEmbeddedRequester();
  // Receipts come in, so a stateful GET ?wait= on a posted order answers at once.
  live.startGateway();
});
afterAll(() => live?.stop());

function run(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      // Its cache (.schemathesis/) goes with the run's data directory, not into the checkout.
      cwd: live.dataDir,
      // No colour codes in the output a failure prints.
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('schemathesis against a live requester', () => {
  it('finds nothing with every check on', async () => {
    const { code, output } = await run([
      'run',
      `${live.url}/openapi.json`,
      '--checks',
      'all',
      '--header',
      `Authorization: Bearer ${live.key}`,
      '--max-examples',
      '10',
      '--workers',
      '2',
      '--seed',
      '2',
    ]);
    expect(output, output).toMatch(/No issues found/);
    expect(code, output).toBe(0);
  }, 180_000);
});
