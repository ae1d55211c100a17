// Benchmark helpers: timing loops (serial or N in flight), interleaved rounds so that a noisy
// neighbour hits the ceiling and the subject alike, Markdown tables, and results files in the
// shape of DESIGN.md §8a.
import { mkdirSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile } from '@countersign/contracts';

/** The order every suite signs: a token of the usual size. */
export const SAMPLE_TXN = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.015',
  limitPrice: '64000.10',
  timeInForce: 'GTC',
} as const;

/** One row of bench/results/<suite>.json (DESIGN.md §8a). */
export interface BenchCase {
  readonly name: string;
  readonly opsPerSec: number;
  readonly ceilingOpsPerSec: number;
  readonly ratio: number;
  /** The same-work floor (bench/floors/): the mandatory work done plainly, same run. */
  readonly floorOpsPerSec?: number;
  /** opsPerSec ÷ floorOpsPerSec: the figure the targets are set on (DESIGN.md §8a). */
  readonly floorRatio?: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly rssMb?: number;
}

export interface SuiteResult {
  readonly suite: string;
  readonly node: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly date: string;
  readonly cases: readonly BenchCase[];
}

export type Op = () => unknown;

export interface Measurement {
  /** Wall-clock throughput. */
  readonly opsPerSec: number;
  /** Operations per second of this process's CPU time (all threads): robust to a busy machine. */
  readonly cpuOpsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * Runs `op` for `durationMs` with `concurrency` calls in flight (1 = serial: each call awaited
 * before the next). Latency samples are per call.
 */
export async function measure(op: Op, durationMs: number, concurrency = 1): Promise<Measurement> {
  const latencies: number[] = [];
  let ops = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const end = start + durationMs;
  const lane = async (): Promise<void> => {
    while (performance.now() < end) {
      const t = performance.now();
      await op();
      latencies.push(performance.now() - t);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: ops / elapsed,
    cpuOpsPerSec: ops / ((cpu.user + cpu.system) / 1e6),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Variant {
  readonly name: string;
  readonly op: Op;
}

/**
 * Measures variants in interleaved rounds (A B C A B C ...) after a warm-up, and returns the
 * median ops/s of each with the latency figures of its median round.
 */
export async function interleaved(
  variants: readonly Variant[],
  {
    rounds,
    roundMs,
    concurrency,
    by = 'wall',
  }: { rounds: number; roundMs: number; concurrency: number; by?: 'wall' | 'cpu' },
): Promise<Map<string, Measurement>> {
  for (const v of variants) await measure(v.op, Math.min(200, roundMs), concurrency); // warm-up
  const samples = new Map<string, Measurement[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) samples.get(v.name)!.push(await measure(v.op, roundMs, concurrency));
  }
  // by 'cpu': opsPerSec is counted per CPU-second of this process (serial work on a machine
  // shared with others, where wall-clock figures measure the scheduler, not the code).
  const key = by === 'cpu' ? 'cpuOpsPerSec' : 'opsPerSec';
  const out = new Map<string, Measurement>();
  for (const [name, list] of samples) {
    const m = median(list.map((x) => x[key]));
    const closest = list.reduce((a, b) => (Math.abs(b[key] - m) < Math.abs(a[key] - m) ? b : a));
    out.set(name, {
      opsPerSec: m,
      cpuOpsPerSec: median(list.map((x) => x.cpuOpsPerSec)),
      p50Ms: closest.p50Ms,
      p99Ms: closest.p99Ms,
    });
  }
  return out;
}

export function benchCase(
  name: string,
  m: Measurement,
  ceilingOpsPerSec: number,
  withLatency = true,
): BenchCase {
  const round = (x: number, digits: number) => Number(x.toFixed(digits));
  return {
    name,
    opsPerSec: Math.round(m.opsPerSec),
    ceilingOpsPerSec: Math.round(ceilingOpsPerSec),
    ratio: round(m.opsPerSec / ceilingOpsPerSec, 3),
    ...(withLatency ? { p50Ms: round(m.p50Ms, 4), p99Ms: round(m.p99Ms, 4) } : {}),
  };
}

/** The case with its same-work floor (measured in the same run) and the ratio to it. */
export function withFloor(c: BenchCase, floorOpsPerSec: number): BenchCase {
  return {
    ...c,
    floorOpsPerSec: Math.round(floorOpsPerSec),
    floorRatio: Number((c.opsPerSec / floorOpsPerSec).toFixed(3)),
  };
}

export function rssMb(): number {
  return Math.round(process.memoryUsage().rss / 1024 / 1024);
}

export function machine(): Pick<SuiteResult, 'node' | 'cpus' | 'cpuModel' | 'date'> {
  const list = cpus();
  return {
    node: process.version,
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    date: new Date().toISOString(),
  };
}

export function markdownTable(cases: readonly BenchCase[]): string {
  const fmt = (v: number | undefined, digits = 0) =>
    v === undefined
      ? ''
      : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const rows = [
    '| case | ops/s | floor ops/s | floor ratio | ceiling ops/s | ratio | p50 ms | p99 ms | RSS MB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...cases.map(
      (c) =>
        `| ${c.name} | ${fmt(c.opsPerSec)} | ${fmt(c.floorOpsPerSec)} | ${fmt(c.floorRatio, 3)} | ${fmt(c.ceilingOpsPerSec)} | ${fmt(c.ratio, 3)} | ${fmt(c.p50Ms, 3)} | ${fmt(c.p99Ms, 3)} | ${fmt(c.rssMb)} |`,
    ),
  ];
  return rows.join('\n');
}

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Writes bench/results/<suite>.json and .md; returns the Markdown. */
export function writeResults(suite: string, cases: readonly BenchCase[], notes = ''): string {
  const result: SuiteResult = { suite, ...machine(), cases };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${suite}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    `# bench: ${suite}`,
    '',
    markdownTable(cases),
    '',
    `Machine: ${result.cpuModel} × ${result.cpus}, Node ${result.node}, ${result.date}.`,
    'floor ratio = ops/s ÷ floor ops/s (bench/floors/: the same mandatory work, crypto and durable writes, done plainly with no project code, measured in the same run); targets are set on it.',
    'ratio = ops/s ÷ ceiling ops/s (the raw-crypto limit for the same work, measured in the same run).',
    ...(notes ? ['', notes] : []),
    '',
  ].join('\n');
  writeFileSync(join(RESULTS_DIR, `${suite}.md`), md);
  return md;
}

const CEILING_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPrivateKey, createPublicKey, sign, verify } = require('node:crypto');
const priv = { key: createPrivateKey(workerData.privatePem), dsaEncoding: 'ieee-p1363' };
const pub = { key: createPublicKey(workerData.publicPem), dsaEncoding: 'ieee-p1363' };
const input = Buffer.from(workerData.signingInput);
const sig = Buffer.from(workerData.signature, 'base64url');
const end = Date.now() + workerData.ms;
let n = 0;
while (Date.now() < end) {
  for (let i = 0; i < workerData.signs; i += 1) sign('sha256', input, priv);
  for (let i = 0; i < workerData.verifies; i += 1) {
    if (!verify('sha256', input, pub, sig)) throw new Error('ceiling self-check failed');
  }
  n += 1;
}
parentPort.postMessage(n);
`;

/**
 * The raw-crypto limit of a unit of work (`signs` ES256 signs + `verifies` verifies over
 * `signingInput`) with one worker_thread per core: units per second, all threads together.
 */
export async function cryptoCeiling(options: {
  readonly signs: number;
  readonly verifies: number;
  readonly signingInput: string;
  readonly ms: number;
}): Promise<number> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const workerData = {
    ...options,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }),
    signature: cryptoSign('sha256', Buffer.from(options.signingInput), {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    }).toString('base64url'),
  };
  const started = Date.now();
  const counts = await Promise.all(
    Array.from(
      { length: availableParallelism() },
      () =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(CEILING_WORKER, { eval: true, workerData });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  return counts.reduce((a, b) => a + b, 0) / ((Date.now() - started) / 1000);
}
