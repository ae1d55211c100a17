#!/usr/bin/env node
// `npm test`: type-check, lint, install the emulator if needed, run unit + integration tests,
// then print the plain `N passed, N failed` line from vitest's JSON report.
import { spawnSync } from 'node:child_process';
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

step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
step('lint', 'npx', ['eslint', '--max-warnings', '0', '.']);
step('emulator (moto server into .venv)', 'bash', ['scripts/moto-venv.sh']);
step('browser (chromium for the HTML report test)', 'bash', ['scripts/ensure-chromium.sh']);

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
