// Gateway throughput: messages/s through the whole pipeline (SQLite queue → verify → claim →
// authorize → paper exchange → sign receipt → complete → publish → delete) on the embedded
// adapters with local ES256 signers, against the crypto ceiling measured in the same run: one
// ES256 verify + one ES256 sign per message, on both cores (two worker_threads).
import {
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { embeddedPaths, parseConfig, TokenTypes } from '@countersign/contracts';
import { createLocalSigner, signJwt } from '@countersign/signing';
import { createSqliteQueue } from '@countersign/transport';
import type { OutgoingMessage, ReceivedMessage } from '@countersign/transport';
import { createGatewayFromConfig, createWorker, silentLogger } from '@countersign/exchange-gateway';
import type { Processor } from '@countersign/exchange-gateway';
import type { BenchCase } from '../lib.ts';
import { run as runNonce } from './nonce.ts';

const CEILING_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPrivateKey, createPublicKey, sign, verify } = require('node:crypto');
const priv = createPrivateKey(workerData.privatePem);
const pub = createPublicKey(workerData.publicPem);
const token = Buffer.from(workerData.signingInput);
const sig = Buffer.from(workerData.signature, 'base64url');
const opts = { key: priv, dsaEncoding: 'ieee-p1363' };
const vopts = { key: pub, dsaEncoding: 'ieee-p1363' };
const end = Date.now() + workerData.ms;
let n = 0;
while (Date.now() < end) {
  for (let i = 0; i < 50; i += 1) {
    if (!verify('sha256', token, vopts, sig)) throw new Error('bad');
    sign('sha256', token, opts);
  }
  n += 50;
}
parentPort.postMessage(n);
`;

/** verify + sign per op, one worker_thread per core, ops/s in total. */
async function cryptoCeiling(sampleToken: string, ms: number): Promise<number> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const [h, p] = sampleToken.split('.');
  const signingInput = `${h}.${p}`;
  const signature = cryptoSign('sha256', Buffer.from(signingInput), {
    key: privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  if (
    !cryptoVerify(
      'sha256',
      Buffer.from(signingInput),
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      signature,
    )
  ) {
    throw new Error('ceiling self-check failed');
  }
  const workerData = {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }),
    signingInput,
    signature: signature.toString('base64url'),
    ms,
  };
  const threads = Math.max(1, Math.min(2, availableParallelism()));
  const started = Date.now();
  const counts = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(CEILING_WORKER, { eval: true, workerData });
          w.once('message', (n: number) => resolve(n));
          w.once('error', reject);
        }),
    ),
  );
  const elapsed = (Date.now() - started) / 1000;
  return counts.reduce((a, b) => a + b, 0) / elapsed;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface PipelineRun {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rssMb: number;
  readonly sampleToken: string;
}

async function pipeline(
  messages: number,
  concurrency: number,
  partitions: number,
): Promise<PipelineRun> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-gw-'));
  try {
    const paths = embeddedPaths(dir);
    const requester = await createLocalSigner({
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      alg: 'ES256',
    });
    const accounts = Array.from({ length: 64 }, (_, i) => `acct-${i}`);
    const config = parseConfig({
      env: {
        COUNTERSIGN_DATA_DIR: dir,
        COUNTERSIGN_GATEWAY_ID: 'gw-bench',
        COUNTERSIGN_PARTITIONS: String(partitions),
        COUNTERSIGN_CHECKPOINT_EVERY: '1000',
        COUNTERSIGN_POLICIES: JSON.stringify([
          {
            id: 'bench-bot',
            accounts,
            symbols: ['BTC-USD'],
            maxNotional: '1000000',
            maxOrdersPerMinute: 10_000_000,
            jwks: { keys: [requester.publicJwk] },
          },
        ]),
      },
      part: 'gateway',
    });
    // Tokens are made before timing: the requester side is not what we measure here.
    const iat = Math.floor(Date.now() / 1000);
    const batch: OutgoingMessage[] = [];
    for (let i = 0; i < messages; i += 1) {
      const jti = randomBytes(16).toString('base64url');
      const sub = accounts[i % accounts.length]!;
      const token = await signJwt(
        requester,
        {
          iss: 'bench-bot',
          sub,
          aud: 'gw-bench',
          iat,
          nbf: iat,
          exp: iat + 300,
          jti,
          txn: {
            type: 'order',
            side: 'buy',
            symbol: 'BTC-USD',
            quantity: '0.015',
            limitPrice: '64000.10',
            timeInForce: 'GTC',
          },
        },
        { typ: TokenTypes.REQUEST },
      );
      batch.push({ body: token, groupId: sub, dedupId: jti });
    }
    const queue = createSqliteQueue({
      path: paths.queueDb,
      visibilityTimeoutSec: 60,
      maxReceives: 5,
      pollIntervalMs: 5,
    });
    for (let i = 0; i < batch.length; i += 10) await queue.sendBatch(batch.slice(i, i + 10));
    const gw = await createGatewayFromConfig(config, { queue, logger: silentLogger });

    const latencies: number[] = [];
    let done = 0;
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    const timed: Pick<Processor, 'process' | 'reconcileUnknown'> = {
      async process(m: ReceivedMessage) {
        const t0 = performance.now();
        const r = await gw.processor.process(m);
        latencies.push(performance.now() - t0);
        done += 1;
        if (done === messages) finish();
        return r;
      },
      reconcileUnknown: () => gw.processor.reconcileUnknown(),
    };
    const worker = createWorker({
      queue,
      processor: timed,
      concurrency,
      waitMs: 50,
      visibilityTimeoutSec: 60,
      heartbeat: false,
    });
    const started = performance.now();
    const run = worker.run();
    await finished;
    const seconds = (performance.now() - started) / 1000;
    await worker.stop();
    await run;
    await gw.close();
    await queue.close();
    if (worker.counters().deleted !== messages)
      throw new Error(`only ${worker.counters().deleted} of ${messages} done`);
    latencies.sort((a, b) => a - b);
    return {
      opsPerSec: messages / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      rssMb: process.resourceUsage().maxRSS / 1024,
      sampleToken: batch[0]!.body,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function run(opts: { readonly quick: boolean }): Promise<BenchCase[]> {
  const messages = opts.quick ? 2000 : 10_000;
  const cases: BenchCase[] = [];
  await pipeline(300, 16, 4); // warm-up (JIT, SQLite page cache)
  for (const [concurrency, partitions] of [
    [16, 4],
    [64, 16],
  ] as const) {
    const res = await pipeline(messages, concurrency, partitions);
    const ceiling = await cryptoCeiling(res.sampleToken, opts.quick ? 1500 : 3000);
    cases.push({
      name: `pipeline embedded ES256 (concurrency ${concurrency}, P=${partitions})`,
      opsPerSec: round(res.opsPerSec, 1),
      ceilingOpsPerSec: round(ceiling, 1),
      ratio: round(res.opsPerSec / ceiling, 3),
      p50Ms: round(res.p50Ms, 3),
      p99Ms: round(res.p99Ms, 3),
      rssMb: round(res.rssMb, 1),
    });
  }
  // The nonce store's share of the work (claim + complete), from the nonce suite.
  for (const c of await runNonce(opts)) cases.push({ ...c, name: `nonce store: ${c.name}` });
  return cases;
}

export const notes = [
  'One gateway process: the worker long-polls the SQLite queue and runs the pipeline with the',
  'given concurrency; every message costs five SQLite write transactions (queue receive share,',
  'nonce claim, nonce complete + chain head, bus publish (coalesced per turn), queue delete) plus',
  'one paper-exchange write, all on the main thread, next to the ES256 verify and receipt sign.',
  'Latency is per message, from process() start to its receipt being published (queue wait',
  'excluded). Peak RSS is the process maxRSS. The ceiling runs verify + sign on two',
  'worker_threads, so the ratio also shows how much of the second core one gateway process',
  'leaves unused; on AWS, P partitions and Lambda concurrency are the way to scale out.',
].join(' ');
