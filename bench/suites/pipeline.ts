// Pipeline benchmark: the embedded pipeline end to end (HTTP submit → queue → gateway →
// receipt → live audit), the same code as `npm start`, against the crypto ceiling of the same
// work measured in the same run: two ES256 signs (request, receipt) and three verifies (gateway,
// audit of the receipt, audit of the request) per transaction, on every core.
// `--count N` sets the workload (a soak: `npm run bench -- pipeline --count 1000000`); RSS is
// sampled through the run to show whether it stays flat after warm-up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '@countersign/contracts';
import { runDemo } from '@countersign/cli';
import { cryptoCeiling, withFloor, type BenchCase } from '../lib.ts';
import { runPipelineFloor, type PipelineFloorResult } from '../floors/pipeline.ts';

function countArg(): number | undefined {
  const i = process.argv.indexOf('--count');
  const n = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

interface Variant {
  readonly name: string;
  readonly gatewayProcess: boolean;
}

const VARIANTS: readonly Variant[] = [
  { name: 'one process', gatewayProcess: false },
  { name: 'gateway in its own process (--gateway-process)', gatewayProcess: true },
];

async function runVariant(
  v: Variant,
  count: number,
  quick: boolean,
  ratePerSec?: number,
): Promise<BenchCase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'countersign-bench-pipeline-'));
  const config = parseConfig({
    env: {
      COUNTERSIGN_DATA_DIR: dataDir,
      COUNTERSIGN_HTTP_PORT: '0',
      COUNTERSIGN_CONCURRENCY: '32',
      COUNTERSIGN_PARTITIONS: '4',
      COUNTERSIGN_CHECKPOINT_EVERY: '1000',
    },
  });
  const rss: { at: number; mb: number }[] = [];
  let progress = 0;
  const sampler = setInterval(
    () => rss.push({ at: progress, mb: process.memoryUsage().rss / 2 ** 20 }),
    500,
  );
  try {
    const summary = await runDemo({
      config,
      count,
      concurrency: 64,
      badApples: false,
      signal: new AbortController().signal,
      logger: pino({ level: 'silent' }),
      onProgress: (p) => (progress = p.receipted / Math.max(1, p.total)),
      stallTimeoutMs: 60_000,
      gatewayProcess: v.gatewayProcess,
      log: (line) => {
        if (!line.startsWith('requester API') && !line.startsWith('gateway ')) console.error(line);
      },
      ...(ratePerSec === undefined ? {} : { ratePerSec }),
    });
    clearInterval(sampler);
    if (!summary.ok)
      throw new Error(
        `pipeline run did not match expectations: ${JSON.stringify(summary.expectations)}`,
      );
    // Two signs (request, receipt) and three verifies (gateway, audit ×2) per transaction,
    // over about a request token's signing input. Measured right after the run.
    const ceiling = await cryptoCeiling({
      signs: 2,
      verifies: 3,
      signingInput: 'x'.repeat(600),
      ms: quick ? 2000 : 4000,
    });
    const peak = Math.max(...rss.map((r) => r.mb));
    const afterWarmup = rss.filter((r) => r.at >= 0.2);
    const warm = afterWarmup[0]?.mb ?? peak;
    const end = afterWarmup[afterWarmup.length - 1]?.mb ?? peak;
    console.log(
      `pipeline (${v.name}): ${count} tx in ${(summary.durationMs / 1000).toFixed(1)} s; RSS after warm-up ${warm.toFixed(0)} MB → end ${end.toFixed(0)} MB (peak ${peak.toFixed(0)} MB)`,
    );
    return {
      name: `embedded pipeline ES256, ${count} tx, HTTP 64 in flight, ${v.name} (submit → receipt audited)`,
      opsPerSec: Math.round(summary.throughputPerSec),
      ceilingOpsPerSec: Math.round(ceiling),
      ratio: Math.round((summary.throughputPerSec / ceiling) * 1000) / 1000,
      p50Ms: summary.latencyMs.p50,
      p99Ms: summary.latencyMs.p99,
      rssMb: Math.round(peak),
    };
  } finally {
    clearInterval(sampler);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The same-work floor of the `npm start` workload: 5 accounts, P=4, 64 HTTP clients. */
async function floor(count: number, ratePerSec?: number): Promise<PipelineFloorResult> {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-pipeline-floor-'));
  try {
    return await runPipelineFloor({
      dir,
      count,
      concurrency: 64,
      accounts: ['acct-alpha', 'acct-bravo', 'acct-charlie', 'acct-delta', 'acct-echo'],
      partitions: 4,
      gatewayConcurrency: 32,
      ...(ratePerSec === undefined ? {} : { ratePerSec }),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(opts: { quick: boolean }): Promise<BenchCase[]> {
  const count = countArg();
  // A soak (--count) runs the default layout only; a normal run compares both.
  if (count !== undefined) return [await runVariant(VARIANTS[0]!, count, opts.quick)];
  const n = opts.quick ? 3000 : 8000;
  const cases: BenchCase[] = [];
  await floor(500); // warm-up (JIT)
  for (const v of VARIANTS) {
    const c = await runVariant(v, n, opts.quick);
    const f = await floor(n);
    cases.push(withFloor(c, f.opsPerSec));
    if (v.gatewayProcess) continue;
    // Latency below saturation: each side at half of its own throughput just measured.
    const half = await runVariant(v, n, opts.quick, c.opsPerSec / 2);
    const floorHalf = await floor(n, f.opsPerSec / 2);
    cases.push({
      ...half,
      name: `${half.name}, paced at 50% of its throughput (${Math.round(c.opsPerSec / 2)}/s); floor at 50% of its own: p50 ${floorHalf.p50Ms.toFixed(1)} ms, p99 ${floorHalf.p99Ms.toFixed(1)} ms`,
    });
  }
  return cases;
}

export const notes = [
  'One process runs the requester HTTP API, the gateway worker and the live audit consumer (as',
  '`npm start` does), fed by 64 concurrent HTTP clients in the same process; the second case',
  'runs the gateway worker as a child process (`npm start -- --gateway-process`, the same',
  'SQLite files), so it has a core of its own; its RSS column is the parent only. Latency is per',
  'transaction from the HTTP submit to its receipt being verified by audit, so it includes time',
  'queued behind earlier orders. The ceiling is two ES256 signs and three verifies per',
  'transaction on every core (worker_threads), measured in the same run.',
  'Floor: bench/floors/pipeline.ts, the requester, gateway and live-audit floors in one process',
  '(same 64 HTTP clients, 5 accounts, P=4, gateway concurrency 32), run right after each case.',
  'The paced row submits at half the throughput just measured (open loop, `ratePerSec`), so its',
  'p50/p99 are latencies below saturation; the floor is paced at half of its own throughput.',
].join('\n');
