// Requester benchmark: how close signing + enqueuing gets to the raw-crypto ceiling.
//
// Every case is measured against its own ceiling, raw crypto.sign (ES256, P1363) on the same
// key over a token-sized signing input, in interleaved slices (ceiling, case, ceiling, case...),
// so load from other processes hits both sides alike. Cases:
//   - library submitMany: local signer + embedded SQLite queue, batches of 10 (the target);
//   - library submitMany with a null queue: the requester's own cost (validation, claims, JWS);
//   - the embedded SQLite queue's sendBatch alone: the queue half's cost;
//   - library submit, one at a time;
//   - library submitMany, null queue, at four instrumentation levels (none; the tracing calls
//     alone, metrics no-op and tracing off; metrics with tracing off as wired; tracing on),
//     interleaved in one run, each also against the first;
//   - HTTP POST /v1/transactions over loopback, 16 keep-alive node:http clients (p50/p99);
//     client and server share this process, so the client's cost counts against the ratio.
// As the embedded runtime wires it, every order is remembered (its status) in requester.sqlite
// before it is sent, except in the null-queue case.
import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { percentile } from '@countersign/contracts';
import { createPromMetrics, instrumentSigner, noopMetrics } from '@countersign/observability';
import { InMemorySpanExporter, startTracing } from '@countersign/observability/sdk';
import { createLocalSigner } from '@countersign/signing';
import type { Queue } from '@countersign/transport';
import { createSqliteQueue } from '@countersign/transport';
import {
  createSqliteIdempotencyStore,
  createReceiptSignals,
  createReceiptVerifier,
  createRequester,
  createRequesterApp,
  createSqliteTransactionStore,
  createTransactionStatus,
  generateApiKey,
  startHttpServer,
} from '@countersign/requester';
import { staticKeys } from '@countersign/verifier';
import { rssMb, SAMPLE_TXN, withFloor, type BenchCase } from '../lib.ts';
import { startRequesterFloor } from '../floors/requester.ts';

const txn = SAMPLE_TXN;
const clock = { now: () => Date.now() };
const SLICE_MS = 250;

export const notes =
  'Each case has its own ceiling: raw crypto.sign (ES256, P1363) on the same key over a ' +
  'token-sized input, measured in slices interleaved with the case. "null queue" isolates the ' +
  'requester\'s own cost; "sendBatch alone" the embedded queue\'s. HTTP clients (node:http, ' +
  'keep-alive) run in the same process as the server. The ceiling runs on one thread (the ' +
  "issue's definition); the requester signs on libuv's thread pool, so its signatures use " +
  'both cores while the event loop validates, builds claims and writes the queue: the ratio ' +
  "says how much of one core's signing rate survives all of that. The instrumentation rows " +
  'are measured in one interleaved run: "the tracing calls alone" is the instrumented signer ' +
  'over no-op metrics with tracing off (its sign span wrapper and timing, no recording), so ' +
  'with "metrics + tracing off" it splits the cost of the metrics from that of the calls.';

/** A unit of work: does some operations, returns how many. */
type Step = () => Promise<number> | number;

/** Runs `step` for about `ms` in total; ops and seconds spent. */
async function timed(ms: number, step: Step): Promise<{ ops: number; sec: number }> {
  let ops = 0;
  const start = performance.now();
  do ops += await step();
  while (performance.now() - start < ms);
  return { ops, sec: (performance.now() - start) / 1000 };
}

/** Interleaves slices of each step for `totalMs` each; returns their rates, in order. */
async function slices(totalMs: number, steps: readonly Step[]): Promise<number[]> {
  for (const step of steps) await step(); // warm-up
  const acc = steps.map(() => ({ ops: 0, sec: 0 }));
  for (let spent = 0; spent < totalMs; spent += SLICE_MS) {
    for (const [i, step] of steps.entries()) {
      const r = await timed(SLICE_MS, step);
      acc[i]!.ops += r.ops;
      acc[i]!.sec += r.sec;
    }
  }
  return acc.map((a) => a.ops / a.sec);
}

/** Interleaves slices of the ceiling and the case for `totalMs` each; returns both rates. */
async function paired(
  totalMs: number,
  ceiling: Step,
  work: Step,
): Promise<{ ops: number; ceiling: number }> {
  const [c, w] = await slices(totalMs, [ceiling, work]);
  return { ops: w!, ceiling: c! };
}

function rawSign(key: KeyObject, input: Buffer): Step {
  return () => {
    for (let i = 0; i < 50; i++) cryptoSign('sha256', input, { key, dsaEncoding: 'ieee-p1363' });
    return 50;
  };
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

const nullQueue: Queue = {
  maxReceives: 1,
  send: () => Promise.resolve({ messageId: 'null' }),
  sendBatch: (ms) => Promise.resolve(ms.map(() => ({ ok: true as const, messageId: 'null' }))),
  receive: () => Promise.resolve([]),
  delete: () => Promise.resolve(),
  changeVisibility: () => Promise.resolve(),
};

export type InstrumentationLevel = 'none' | 'tracingCalls' | 'off' | 'on';

/** Rates (with the ceiling of the same run) of the four instrumentation levels. */
export async function tracingCosts(
  ms: number,
  ceiling: Step,
  common: Omit<Parameters<typeof createRequester>[0], 'queue'>,
  batch: readonly { account: string; txn: unknown }[],
): Promise<Record<InstrumentationLevel, { ops: number; ceiling: number }>> {
  const plain = createRequester({ ...common, queue: nullQueue });
  // The calls of the instrumented case with nothing recorded: metrics are no-ops, and the
  // sign, submit and send spans go to the OpenTelemetry API with no SDK (tracing off).
  const tracingCalls = createRequester({
    ...common,
    signer: instrumentSigner(common.signer, { metrics: noopMetrics, role: 'requester' }),
    queue: nullQueue,
  });
  const metrics = createPromMetrics({ processMetrics: false });
  const instrumented = createRequester({
    ...common,
    signer: instrumentSigner(common.signer, { metrics, role: 'requester' }),
    metrics,
    queue: nullQueue,
  });
  const exporter = new InMemorySpanExporter();
  const many = (r: typeof plain) => async () => (await r.submitMany(batch)).length;
  const traced: Step = async () => {
    const tracing = startTracing({ serviceName: 'bench', exporter });
    try {
      let ops = 0;
      for (let i = 0; i < 4; i++) ops += await many(instrumented)();
      return ops;
    } finally {
      await tracing.shutdown();
      exporter.reset();
    }
  };
  const [c, none, calls, off, on] = await slices(ms, [
    ceiling,
    many(plain),
    many(tracingCalls),
    many(instrumented),
    traced,
  ]);
  return {
    none: { ops: none!, ceiling: c! },
    tracingCalls: { ops: calls!, ceiling: c! },
    off: { ops: off!, ceiling: c! },
    on: { ops: on!, ceiling: c! },
  };
}

export async function run({ quick }: { quick: boolean }): Promise<BenchCase[]> {
  const ms = quick ? 2_000 : 6_000;
  const httpClients = 16;
  const dir = mkdtempSync(join(tmpdir(), 'bench-requester-'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // As the embedded requester runs it: signatures on the thread pool (see requester wiring).
  const signer = await createLocalSigner({ privateKey, alg: 'ES256', threadPool: true });
  const queue = createSqliteQueue({
    path: join(dir, 'queue.sqlite'),
    visibilityTimeoutSec: 30,
    maxReceives: 5,
  });
  const common = {
    signer,
    issuer: 'bench-requester',
    audience: 'bench-gateway',
    lifetimeSec: 60,
    clock,
    signConcurrency: 64, // the embedded wiring's default for a local key
  };
  // Orders are remembered in requester.sqlite, as the embedded wiring does.
  const transactions = createSqliteTransactionStore({ path: join(dir, 'requester.sqlite'), clock });
  const requester = createRequester({
    ...common,
    queue,
    remember: (orders) => transactions.remember(orders),
  });
  const bare = createRequester({ ...common, queue: nullQueue });
  // A signing input of the real size: header.payload of a token this requester makes.
  const sample = await requester.submit(txn, { account: 'acct-0' });
  const ceiling = rawSign(
    privateKey,
    Buffer.from(sample.token.slice(0, sample.token.lastIndexOf('.')), 'ascii'),
  );
  const batch = Array.from({ length: 500 }, (_, i) => ({ account: `acct-${i % 16}`, txn }));
  const cases: BenchCase[] = [];
  const row = (name: string, r: { ops: number; ceiling: number }, extra: Partial<BenchCase> = {}) =>
    cases.push({
      name,
      opsPerSec: Math.round(r.ops),
      ceilingOpsPerSec: Math.round(r.ceiling),
      ratio: round(r.ops / r.ceiling, 3),
      ...extra,
    });

  try {
    row(
      'library submitMany (local ES256 on the thread pool + embedded SQLite queue)',
      await paired(ms, ceiling, async () => {
        const results = await requester.submitMany(batch);
        if (!results.every((r) => r.ok)) throw new Error('submitMany failed in the benchmark');
        return batch.length;
      }),
      { rssMb: rssMb() },
    );
    row(
      "library submitMany, null queue (the requester's own cost)",
      await paired(ms, ceiling, async () => (await bare.submitMany(batch)).length),
    );
    // What observability costs, in one interleaved run: no instrumentation (bare signer, no
    // metrics; the requester's own submit/send spans are no-op calls here too), the tracing calls
    // alone (the instrumented signer over no-op metrics, tracing off), as wired with tracing off (instrumented signer + Prometheus registry, no tracer
    // provider: the OpenTelemetry API is a no-op), and tracing on (a registered provider whose
    // spans are kept in memory and dropped; registered for each step of 4 batches, unregistered
    // after it, so the slices without it run with the API off).
    const { none, tracingCalls, off, on } = await tracingCosts(ms, ceiling, common, batch);
    const vsNone = (r: { ops: number }) => `${round(r.ops / none.ops, 3)}× no instrumentation`;
    row('library submitMany, null queue, no instrumentation', none);
    row(
      `library submitMany, null queue, metrics off + tracing off: the tracing calls alone (${vsNone(tracingCalls)})`,
      tracingCalls,
    );
    row(`library submitMany, null queue, metrics + tracing off (${vsNone(off)})`, off);
    row(`library submitMany, null queue, metrics + tracing on (${vsNone(on)})`, on);
    let n = 0;
    const bodies = Array.from({ length: 10 }, () => sample.token);
    row(
      'embedded SQLite queue sendBatch alone (10 token-sized messages per call, no signing)',
      await paired(ms, ceiling, async () => {
        for (let i = 0; i < 10; i++) {
          await queue.sendBatch(
            bodies.map((body, j) => ({ body, groupId: `acct-${j}`, dedupId: `bench-${n++}` })),
          );
        }
        return 100;
      }),
    );
    row(
      'library submit, one at a time (local ES256 + embedded SQLite queue)',
      await paired(ms, ceiling, async () => {
        for (let i = 0; i < 20; i++) await requester.submit(txn, { account: `acct-${i % 16}` });
        return 20;
      }),
    );

    // HTTP on loopback: 16 clients, each keeps one request in flight for one slice; every
    // other request carries a fresh Idempotency-Key. The idempotency store is SQLite, as the
    // embedded runtime wires it. The same-work floor (bench/floors/requester.ts) takes the same
    // clients in slices interleaved with the server and the ceiling.
    const key = generateApiKey('bench', ['acct-0', 'acct-1', 'acct-2', 'acct-3']);
    const idempotency = createSqliteIdempotencyStore({
      path: join(dir, 'requester.sqlite'),
      clock,
    });
    const logger = pino({ level: 'silent' });
    const app = createRequesterApp({
      requester,
      apiKeys: [key.entry],
      idempotency,
      transactions: createTransactionStatus({
        issuer: common.issuer,
        store: transactions,
        verifier: createReceiptVerifier({
          keys: staticKeys({ keys: [] }),
          gatewayId: 'bench-gateway',
        }),
        signals: createReceiptSignals(),
        clock,
        logger,
      }),
      logger,
      maxBodyBytes: 65_536,
    });
    const server = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
    const floorDir = join(dir, 'floor');
    mkdirSync(floorDir);
    const floor = await startRequesterFloor({
      dir: floorDir,
      signingKey: privateKey,
      issuer: 'bench-requester',
      audience: 'bench-gateway',
      lifetimeSec: 60,
      apiKey: { ...key.entry },
    });
    const agent = new Agent({ keepAlive: true, maxSockets: httpClients * 2 });
    let sent = 0;
    const post = (base: URL, account: string, latencies: number[]) =>
      new Promise<void>((ok, fail) => {
        const body = JSON.stringify({ account, txn });
        const keyed = sent++ % 2 === 0;
        const t = performance.now();
        const req = httpRequest(
          {
            host: base.hostname,
            port: base.port,
            path: '/v1/transactions',
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              authorization: `Bearer ${key.key}`,
              ...(keyed ? { 'idempotency-key': `bench-${sent}-${Math.random()}` } : {}),
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode !== 202) return fail(new Error(`HTTP ${res.statusCode}`));
              latencies.push(performance.now() - t);
              ok();
            });
          },
        );
        req.on('error', fail);
        req.end(body);
      });
    const clients =
      (base: URL, latencies: number[]): Step =>
      async () => {
        const start = performance.now();
        let done = 0;
        await Promise.all(
          Array.from({ length: httpClients }, async (_, c) => {
            while (performance.now() - start < SLICE_MS) {
              await post(base, `acct-${c % 4}`, latencies);
              done++;
            }
          }),
        );
        return done;
      };
    try {
      const ours: number[] = [];
      const plain: number[] = [];
      const [c, w, f] = await slices(ms, [
        ceiling,
        clients(new URL(server.url), ours),
        clients(new URL(floor.url), plain),
      ]);
      ours.sort((a, b) => a - b);
      row(
        `HTTP POST /v1/transactions, ${httpClients} keep-alive clients on loopback, Idempotency-Key on half`,
        { ops: w!, ceiling: c! },
        {
          p50Ms: round(percentile(ours, 50), 2),
          p99Ms: round(percentile(ours, 99), 2),
          rssMb: rssMb(),
        },
      );
      cases[cases.length - 1] = withFloor(cases[cases.length - 1]!, f!);
    } finally {
      agent.destroy();
      await server.close();
      await floor.close();
      await idempotency.close?.();
    }
    return cases;
  } finally {
    await queue.close();
    await transactions.close?.();
    rmSync(dir, { recursive: true, force: true });
  }
}
