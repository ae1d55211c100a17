// Benchmark runner: `npm run bench -- [suite ...] [--quick]` (no suite = all).
// Each suite is bench/suites/<name>.ts exporting `run(opts: { quick: boolean }):
// Promise<BenchCase[]>` (and optionally `notes: string` for the results page). Results go to
// bench/results/<suite>.json (DESIGN.md §8a) and <suite>.md.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { markdownTable, writeResults, type BenchCase } from './lib.ts';

const SUITES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'suites');
/** The suites DESIGN.md §8a names, in run order; other files in suites/ run after them. */
const KNOWN = ['verify', 'requester', 'gateway', 'audit', 'pipeline'] as const;

interface SuiteModule {
  run?: (opts: { quick: boolean }) => Promise<BenchCase[]>;
  notes?: string;
}

function discovered(): string[] {
  if (!existsSync(SUITES_DIR)) return [];
  return readdirSync(SUITES_DIR)
    .filter((f) => f.endsWith('.ts') && !f.startsWith('.') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function runSuite(name: string, quick: boolean): Promise<boolean> {
  if (!/^[a-z0-9-]+$/.test(name)) {
    console.error(`bench: "${name}" is not a suite name`);
    return false;
  }
  const file = join(SUITES_DIR, `${name}.ts`);
  if (!existsSync(file)) {
    const known = [...new Set([...KNOWN, ...discovered()])].join(', ');
    console.error(
      `bench: suite "${name}" is not available: ${file} does not exist (suites: ${known})`,
    );
    return false;
  }
  const mod = (await import(pathToFileURL(file).href)) as SuiteModule;
  if (typeof mod.run !== 'function') {
    console.error(
      `bench: ${file} does not export run(opts: { quick: boolean }): Promise<BenchCase[]>`,
    );
    return false;
  }
  console.log(`\n## ${name}${quick ? ' (quick)' : ''}\n`);
  const started = performance.now();
  try {
    const cases = await mod.run({ quick });
    console.log(markdownTable(cases));
    writeResults(name, cases, mod.notes ?? '');
    console.log(
      `\n${name}: ${((performance.now() - started) / 1000).toFixed(1)} s, results in bench/results/${name}.{json,md}`,
    );
    return true;
  } catch (err) {
    console.error(`bench: suite "${name}" failed:`, err);
    return false;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const quick = argv.includes('--quick');
  // --count N is read by the suites that take a workload size (pipeline).
  const countAt = argv.indexOf('--count');
  const unknownFlags = argv.filter(
    (a, i) => a.startsWith('-') && a !== '--quick' && !(a === '--count' && i === countAt),
  );
  if (unknownFlags.length > 0) {
    console.error(
      `bench: unknown option(s) ${unknownFlags.join(' ')}; usage: npm run bench -- [suite ...] [--quick] [--count N]`,
    );
    return 2;
  }
  const named = argv.filter((a, i) => !a.startsWith('-') && !(countAt >= 0 && i === countAt + 1));
  const suites = named.length > 0 ? named : [...new Set([...KNOWN, ...discovered()])];
  let failed = 0;
  if (suites.length === 1) {
    if (!(await runSuite(suites[0]!, quick))) failed++;
  } else {
    // One process per suite: what a suite leaves behind (worker threads, a grown heap, files
    // in the page cache) would otherwise weigh on the next one's figures.
    const passOn = argv.filter(
      (a) => a.startsWith('-') || (countAt >= 0 && a === argv[countAt + 1]),
    );
    for (const name of suites) {
      const child = spawnSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), name, ...passOn],
        { stdio: 'inherit' },
      );
      if (child.status !== 0) failed++;
      // Flush what the suite wrote (the audit's 50k-receipt archive, say) now, so the kernel's
      // writeback does not land in the next suite's timing.
      spawnSync('sync');
    }
  }
  if (failed > 0)
    console.error(`\nbench: ${failed} of ${suites.length} suite(s) did not run or failed`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
