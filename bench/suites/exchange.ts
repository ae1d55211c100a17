// The gateway on HttpExchange against the exchange simulator over loopback, against the same
// run on the paper exchange: what a real exchange connection (signed HTTP requests on a
// keep-alive undici pool, JSON both ways) costs the gateway when the exchange itself is fast.
// The simulator runs in its own process, as a venue would, so its work is not counted in the
// gateway's event loop.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { embeddedPaths, parseConfig } from '@countersign/contracts';
import {
  createHttpExchange,
  createLocalKekDataKeys,
  credentialsContext,
  ensureKekFile,
  loadExchangeCredentials,
  parseCredentialsLocation,
  sealCredentials,
  silentLogger,
  startExchangeSimulator,
  writeSealedCredentials,
} from '@countersign/exchange-gateway';
import { SSMClient } from '@aws-sdk/client-ssm';
import { KMSClient } from '@aws-sdk/client-kms';
import { cryptoCeiling, measure, SAMPLE_TXN, type BenchCase } from '../lib.ts';
import { inProcess, prepare, type PipelineRun } from './gateway.ts';

const CONCURRENCY = 64;
const noAws = { kms: () => new KMSClient({}), ssm: () => new SSMClient({}) };

/** Issues credentials into `dataDir` (local KEK), as `countersign exchange-sim` does. */
async function issueCredentials(env: Record<string, string>): Promise<void> {
  const config = parseConfig({ env, part: 'exchange' });
  const paths = embeddedPaths(config.dataDir);
  ensureKekFile(paths.exchangeKek);
  const sealed = await sealCredentials({
    dataKeys: createLocalKekDataKeys({ path: paths.exchangeKek }),
    context: credentialsContext(config.gateway.id, config.exchange.name),
    apiKey: Buffer.from(`bench-${randomBytes(6).toString('hex')}`),
    secret: Buffer.from(randomBytes(32).toString('base64url')),
  });
  await writeSealedCredentials(parseCredentialsLocation(paths.exchangeCredentials), sealed, {
    overwrite: true,
    ssm: noAws.ssm,
  });
}

/** The simulator in a child process on the data dir; resolves with its URL and a stop. */
async function simulatorProcess(
  env: Record<string, string>,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, BENCH_EXCHANGE_SIM_CHILD: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) =>
      typeof m === 'string' ? resolve(m) : reject(new Error('simulator child sent no URL')),
    );
    child.once('exit', (code) => reject(new Error(`simulator child exited ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send('stop');
      }),
  };
}

// Child mode: open the credentials like a venue that issued them, serve until told to stop.
if (process.env.BENCH_EXCHANGE_SIM_CHILD && process.send) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[0].startsWith('COUNTERSIGN_') && e[1] !== undefined,
    ),
  );
  const config = parseConfig({ env, part: 'exchange' });
  const credentials = await loadExchangeCredentials(config, noAws, silentLogger);
  const sim = await startExchangeSimulator({
    credentials: [credentials],
    dbPath: embeddedPaths(config.dataDir).exchangeSimDb,
  });
  process.once('message', () => {
    void sim.close().then(() => process.exit(0));
  });
  process.send(sim.url);
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

interface Run extends PipelineRun {
  /** Orders per CPU-second of this (the gateway's) process: robust to a busy machine. */
  readonly cpuOpsPerSec: number;
}

async function timed(
  messages: number,
  partitions: number,
  overrides: Parameters<typeof inProcess>[2],
): Promise<Run> {
  const prep = await prepare(messages, partitions);
  try {
    const cpu0 = process.cpuUsage();
    const res = await inProcess(prep, CONCURRENCY, overrides);
    const cpu = process.cpuUsage(cpu0);
    return { ...res, cpuOpsPerSec: messages / ((cpu.user + cpu.system) / 1e6) };
  } finally {
    rmSync(prep.dir, { recursive: true, force: true });
  }
}

/** The run whose wall-clock figure is the median of its kind. */
function medianRun(runs: readonly Run[]): Run {
  const m = median(runs.map((r) => r.opsPerSec));
  return {
    ...runs.find((r) => r.opsPerSec === m)!,
    cpuOpsPerSec: median(runs.map((r) => r.cpuOpsPerSec)),
  };
}

export async function run(opts: { readonly quick: boolean }): Promise<BenchCase[]> {
  const messages = opts.quick ? 1000 : 5000;
  const rounds = opts.quick ? 2 : 3;
  const partitions = 4;
  const warm = await prepare(300, partitions);
  await inProcess(warm, 16);
  const sampleToken = warm.sampleToken;
  rmSync(warm.dir, { recursive: true, force: true });

  // The venue: its own data dir (credentials, orders) and process.
  const venueDir = mkdtempSync(join(tmpdir(), 'bench-venue-'));
  const venueEnv = { COUNTERSIGN_DATA_DIR: venueDir, COUNTERSIGN_GATEWAY_ID: 'gw-bench' };
  await issueCredentials(venueEnv);
  const sim = await simulatorProcess(venueEnv);
  const credentials = await loadExchangeCredentials(
    parseConfig({ env: venueEnv, part: 'exchange' }),
    noAws,
    silentLogger,
  );
  const exchange = createHttpExchange({ url: sim.url, credentials, connections: 16 });
  try {
    const place = () =>
      exchange.place({
        clientOrderId: `cs${randomBytes(24).toString('base64url')}`,
        account: 'acct-0',
        txn: SAMPLE_TXN,
      });
    await measure(place, 1000, CONCURRENCY); // JIT of the client and the simulator
    // Interleaved rounds, so a noisy neighbour weighs on both alike.
    const paperRuns: Run[] = [];
    const httpRuns: Run[] = [];
    for (let r = 0; r < rounds; r += 1) {
      paperRuns.push(await timed(messages, partitions, {}));
      httpRuns.push(await timed(messages, partitions, { exchange }));
    }
    const stats = exchange.stats();
    if (stats.retries > 0 || stats.unknown > 0) {
      throw new Error(`the loopback exchange failed requests: ${JSON.stringify(stats)}`);
    }
    const paper = medianRun(paperRuns);
    const http = medianRun(httpRuns);
    // The exchange connection alone: signed place() calls, 64 in flight, no gateway around them.
    const alone = await measure(place, opts.quick ? 1500 : 3000, CONCURRENCY);
    const [h, p] = sampleToken.split('.');
    const ceiling = await cryptoCeiling({
      signs: 1,
      verifies: 1,
      signingInput: `${h}.${p}`,
      ms: opts.quick ? 1500 : 3000,
    });
    const row = (name: string, x: Run, ceil: number): BenchCase => ({
      name,
      opsPerSec: round(x.opsPerSec, 1),
      ceilingOpsPerSec: round(ceil, 1),
      ratio: round(x.opsPerSec / ceil, 3),
      p50Ms: round(x.p50Ms, 3),
      p99Ms: round(x.p99Ms, 3),
      rssMb: round(x.rssMb, 1),
    });
    const setting = `concurrency ${CONCURRENCY}, P=${partitions}`;
    return [
      row(`gateway, paper exchange (SQLite, in process), ${setting}`, paper, ceiling),
      row(
        `gateway, HttpExchange → simulator (loopback, own process), ${setting} (ceiling = the paper run)`,
        http,
        paper.opsPerSec,
      ),
      {
        name: 'the same two runs per CPU-second of the gateway process: HttpExchange (ceiling = paper)',
        opsPerSec: round(http.cpuOpsPerSec, 1),
        ceilingOpsPerSec: round(paper.cpuOpsPerSec, 1),
        ratio: round(http.cpuOpsPerSec / paper.cpuOpsPerSec, 3),
      },
      {
        name: `HttpExchange.place alone → simulator, ${CONCURRENCY} in flight (ceiling = the gateway on it)`,
        opsPerSec: round(alone.opsPerSec, 1),
        ceilingOpsPerSec: round(http.opsPerSec, 1),
        ratio: round(alone.opsPerSec / http.opsPerSec, 3),
        p50Ms: round(alone.p50Ms, 3),
        p99Ms: round(alone.p99Ms, 3),
      },
    ];
  } finally {
    await exchange.close();
    await sim.stop();
    rmSync(venueDir, { recursive: true, force: true });
  }
}

export const notes = [
  'The same gateway (embedded adapters, local ES256 keys, one process, concurrency 64, P=4) drains',
  'the same number of queued orders on the paper exchange (a SQLite write in process) and on',
  'HttpExchange, in interleaved rounds (median reported), against the exchange simulator in a child process over loopback',
  '(HMAC-signed JSON requests on a keep-alive undici pool of 16 connections; the simulator',
  "verifies the signature and stores the order in its own SQLite file). The HttpExchange row's",
  'ceiling is the paper run, so its ratio is the share of the paper throughput kept with a real',
  'exchange connection. The CPU row counts orders per CPU-second of the gateway process (the',
  "simulator's CPU excluded), which a busy machine moves much less than wall-clock figures: it is",
  "the gateway's own cost of the HTTP connection (signing, undici, JSON, checks). The last row is HttpExchange.place alone at 64 in flight: how fast the",
  'simulator and the client go without the gateway, i.e. whether the exchange or the gateway is',
  "the limit. Both processes share the two cores, so the simulator's work competes with the",
  "gateway's here; against a remote venue it would not, but the network round trip would add",
  'latency instead.',
].join(' ');
