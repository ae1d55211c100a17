#!/usr/bin/env node
// `npm test`: type-check, lint, install the emulator if needed, run unit + integration tests,
// then print the plain `N passed, N failed` line from vitest's JSON report.
// The installs (PyPI, apt: network-bound, minutes on a clean clone) run while the CPU-bound
// type-check and lint do; their output is printed when they are awaited.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const extra = process.argv.slice(2);
const run = (cmd, args) => {
  const res = spawnSync(cmd, args, { stdio: 'inherit' });
  if (res.error) {
    console.error(`${cmd} could not start: ${res.error.message}`);
    return 1;
  }
  return res.status ?? 1;
};
const step = (name, cmd, args) => {
  console.log(`\n== ${name}`);
  const code = run(cmd, args);
  if (code !== 0) {
    console.error(`\n${name} failed (exit ${code}).`);
    console.log('0 passed, 1 failed');
    process.exit(code);
  }
};

/** Starts a step in the background; `await` the result to print its output and check it. */
const background = (name, cmd, args) => {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = () => child.kill();
  process.once('exit', stop); // a failed step exits: no install left running behind it
  const out = [];
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => out.push(d));
  const done = new Promise((resolve) => {
    child.on('error', (err) => resolve({ code: 1, error: err }));
    child.on('close', (code) => resolve({ code: code ?? 1 }));
  });
  return async () => {
    const { code, error } = await done;
    process.off('exit', stop);
    console.log(`\n== ${name}`);
    process.stdout.write(Buffer.concat(out));
    if (error) console.error(`${cmd} could not start: ${error.message}`);
    if (code !== 0) {
      console.error(`\n${name} failed (exit ${code}).`);
      console.log('0 passed, 1 failed');
      process.exit(code);
    }
  };
};

const emulator = background('emulator (moto server into .venv)', 'bash', ['scripts/moto-venv.sh']);
const browser = background('browser (chromium for the HTML report test)', 'bash', [
  'scripts/ensure-chromium.sh',
]);
step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
step('lint', 'npx', ['eslint', '--max-warnings', '0', '.']);
await emulator();
await browser();

console.log('\n== tests (unit + integration)');
mkdirSync('.reports', { recursive: true });
const report = '.reports/vitest.json';
rmSync(report, { force: true });
const code = run('npx', [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
  ...extra,
]);
let passed = 0;
if (existsSync(report)) {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed = json.numPassedTests ?? 0;
  let failed = json.numFailedTests ?? 0;
  const skipped = (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0);
  // A file that failed to load has no failed test but must still count.
  if (code !== 0 && failed === 0) failed = Math.max(1, json.numFailedTestSuites ?? 0);
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
} else {
  console.log(`0 passed, 1 failed`);
}
process.exit(code !== 0 ? code : passed === 0 ? 1 : 0);
