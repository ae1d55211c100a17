// The whole pipeline in one process: requester HTTP API → queue → gateway worker → bus → live
// audit, a demo workload with deliberate bad apples, then a full audit replay of the archive.
// The same code runs the embedded default and the AWS adapters (COUNTERSIGN_MODE=aws).
import type { Metrics } from '@countersign/observability';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import {
  CountersignError,
  EmbeddedKeyNames,
  embeddedPaths,
  errorCodeOf,
  systemClock,
  withAbsolutePaths,
} from '@countersign/contracts';
import type { AuditReport, Clock, CountersignConfig, ReasonCode } from '@countersign/contracts';
import {
  createAuditFromConfig,
  type Auditor,
  type AuditRuntime,
  type IngestResult,
} from '@countersign/audit';
import { acquireRoleLock } from '@countersign/sqlite';
import {
  createGatewayFromConfig,
  createPaperExchange,
  createWorker,
} from '@countersign/exchange-gateway';
import { ensureLocalSigner } from '@countersign/signing';
import { decodeUnverified } from '@countersign/verifier';
import { createRequesterServiceFromConfig, startHttpServer } from '@countersign/requester';
import { reconcileWith } from '../commands/audit-reconcile.ts';
import { embeddedOperatorStatus } from '../operator-status.ts';
import { buildBadApples, OVER_LIMIT_ORDER, OVER_LIMIT_WHY, type BadApple } from './bad-apples.ts';
import { startDemoExchange, type DemoExchangeKind, type DemoSimSettings } from './demo-exchange.ts';
import { prepareDemo } from './prepare.ts';
import {
  foldReceipt,
  newTally,
  summarize,
  type DemoSummary,
  type ExpectedEntry,
  type SeenReceipt,
} from './summary.ts';
import { DEMO_ACCOUNTS, demoOrderStream, type DemoOrder } from './workload.ts';

export type { DemoSummary, Expectation } from './summary.ts';

export interface DemoOptions {
  readonly config: CountersignConfig;
  readonly count: number;
  readonly concurrency: number;
  readonly signal: AbortSignal;
  /** Keep API, gateway and audit running after the summary until `signal` aborts. */
  readonly keepRunning?: boolean;
  readonly badApples?: boolean;
  /** Human-readable lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
  readonly onProgress?: (progress: DemoProgress) => void;
  /** Give up when no receipt arrived for this long. Default 30 s. */
  readonly stallTimeoutMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Orders submitted but not yet receipted before the demo waits (default 4,000). */
  readonly maxWaiting?: number;
  /** Submit at most this many orders per second (open loop: latency below saturation). */
  readonly ratePerSec?: number;
  /**
   * Run the gateway worker as a child process (`countersign gateway` on the same data dir)
   * instead of in this one, so it has a core of its own. Embedded mode only.
   */
  readonly gatewayProcess?: boolean;
  /** `sim`: the gateway runs on HttpExchange against a local exchange simulator. Default paper. */
  readonly exchange?: DemoExchangeKind;
  readonly sim?: DemoSimSettings;
}

export interface DemoProgress {
  readonly submitted: number;
  readonly total: number;
  readonly receipted: number;
}

/** Runs `fn` over `items` with at most `limit` in flight; stops early when aborted. */
async function pool<T>(
  items: Iterable<T>,
  limit: number,
  signal: AbortSignal,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const next = items[Symbol.iterator]();
  const lanes = Array.from({ length: Math.max(1, limit) }, async () => {
    while (!signal.aborted) {
      const item = next.next();
      if (item.done) return;
      await fn(item.value);
    }
  });
  await Promise.all(lanes);
}

/**
 * How long the sink keeps reading after the gateway stopped, at most. The gateway published
 * every receipt of what it finished before it stopped; on AWS they still travel bus → rule →
 * audit queue, which a loaded EventBridge (or moto) takes seconds for.
 */
const DRAIN_MS: Record<CountersignConfig['mode'], number> = { embedded: 10_000, aws: 30_000 };

/**
 * Feeds every receipt that reaches the audit side (audit's own live source: the bus cursor
 * `demo`, or the audit queue) to the auditor and reports it. When `drain` aborts (the gateway
 * has stopped), the source reads on until it is empty and `outstanding()` is 0, so the counts
 * include the receipts of the messages the gateway finished last.
 */
function startReceiptSink(
  config: CountersignConfig,
  audit: AuditRuntime,
  auditor: Auditor,
  drain: AbortSignal,
  outstanding: () => number,
  clock: Clock,
  onReceipt: (messageId: string, receipt: SeenReceipt, verified: boolean) => void,
): Promise<number> {
  const report = (detail: unknown, result: IngestResult) => {
    if (result === 'duplicate' || result === 'skipped') return;
    const receipt = (detail as { receipt?: unknown }).receipt;
    // Counted once verified by the auditor; a receipt that is not even a JWS is its finding only.
    const claims = typeof receipt === 'string' ? decodeUnverified(receipt) : undefined;
    if (!claims) return;
    onReceipt(
      String(claims.messageId),
      {
        outcome: String(claims.outcome),
        reason: typeof claims.reason === 'string' ? claims.reason : undefined,
        at: clock.now(),
      },
      result === 'accepted',
    );
  };
  return audit.follow({
    auditor,
    signal: drain,
    drain: { maxMs: DRAIN_MS[config.mode], clock, outstanding },
    onIngested: report,
    ...(config.mode === 'embedded'
      ? { consumer: 'demo', batch: 200, waitMs: 200 }
      : { waitMs: 1000 }),
  });
}

/** POSTs JSON over node:http; resolves with the status and the parsed JSON answer. */
function postJson(
  agent: Agent,
  url: string,
  headers: Record<string, string>,
  payload: unknown,
): Promise<{ status: number; body: unknown }> {
  const data = JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(data),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = { detail: text.slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** The gateway side of a demo run, in this process or in a child process. */
interface DemoGateway {
  readonly kid: string;
  /** Orders the exchange executed so far (all runs, embedded; this process, AWS). */
  executions(): number;
  /** Stops the worker after its in-flight messages. */
  stop(): Promise<void>;
  close(): Promise<void>;
}

async function startGatewayHere(
  config: CountersignConfig,
  logger: Logger,
  signal: AbortSignal,
  metrics?: Metrics,
): Promise<DemoGateway> {
  const gateway = await createGatewayFromConfig(config, {
    logger: logger.child({ service: 'exchange-gateway' }),
    exclusive: true, // the data directory's gateway role lock (embedded mode)
    // One registry for the process: the requester's GET /metrics shows the gateway's too.
    ...(metrics ? { metrics } : {}),
    tracing: config.observability.tracing !== 'off',
  });
  const worker = createWorker({
    queue: gateway.queue,
    processor: gateway.processor,
    concurrency: config.gateway.concurrency,
    visibilityTimeoutSec: config.queue.visibilityTimeoutSec,
    waitMs: config.mode === 'aws' ? 1000 : 200,
    signal,
    logger: gateway.logger,
  });
  const done = worker.run();
  const exchange = gateway.exchange as { executions?: () => number };
  return {
    kid: gateway.signer.kid,
    executions: () => exchange.executions?.() ?? 0,
    stop: async () => {
      await done;
    },
    close: () => gateway.close(),
  };
}

/**
 * The demo gives up waiting when no receipt arrived for this long. On AWS a receipt travels
 * through EventBridge, a rule and SQS, which a loaded service (or moto) slows to seconds.
 */
const DEFAULT_STALL_MS: Record<CountersignConfig['mode'], number> = {
  embedded: 30_000,
  aws: 60_000,
};

/** At ~1k receipts/s, 4,000 waiting orders is a few seconds of queue: far inside 60 s. */
const DEFAULT_MAX_WAITING = 4000;

const CLI_BIN = fileURLToPath(new URL('../../../../bin/countersign.mjs', import.meta.url));

/** `countersign gateway` as a child process on the same data dir and configuration. */
async function startGatewayProcess(
  config: CountersignConfig,
  log: (line: string) => void,
): Promise<DemoGateway> {
  const paths = embeddedPaths(config.dataDir);
  // The key must exist before audit starts (it trusts the gateway's public key).
  const signer = await ensureLocalSigner(
    paths.keysDir,
    EmbeddedKeyNames.GATEWAY,
    config.gateway.alg,
  );
  // The child reads exactly this configuration (demo API key hash and policy included); paths in
  // a config file are read against its directory, so they are written absolute.
  const file = join(config.dataDir, 'demo-gateway-config.json');
  writeFileSync(file, JSON.stringify(withAbsolutePaths(config, '.')), { mode: 0o600 });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('COUNTERSIGN_')) env[k] = v;
  }
  const child = spawn(process.execPath, [CLI_BIN, 'gateway'], {
    env: { ...env, COUNTERSIGN_CONFIG_FILE: file },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let stopping = false;
  const exited = once(child, 'exit').then(([code, signal]) => {
    // A signal (SIGBUS from a truncated -shm, SIGKILL) leaves no log line of its own: say it.
    if (!stopping && code !== 0) {
      log(
        `gateway process exited early (${signal ? `signal ${String(signal)}` : `code ${String(code)}`})`,
      );
    }
  });
  const exchange = createPaperExchange({ path: paths.exchangeDb });
  return {
    kid: signer.kid,
    executions: () => exchange.executions(),
    stop: async () => {
      stopping = true;
      if (child.exitCode === null) child.kill('SIGTERM'); // finishes in-flight messages first
      await exited;
    },
    close: () => exchange.close(),
  };
}

/**
 * Runs the demo. In the embedded mode it takes the data directory's `demo` role first (an OS
 * lock: a second demo on the same directory fails at once with LOCKED, naming the holder's pid),
 * because two demos would share the bus cursor and each see half of the receipts.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const lock =
    options.config.mode === 'embedded'
      ? acquireRoleLock(options.config.dataDir, 'demo', { clock: options.clock ?? systemClock })
      : undefined;
  try {
    return await runUnlocked(options);
  } finally {
    lock?.release();
  }
}

const CURL_BODY = `{"account":"${DEMO_ACCOUNTS[0]}","txn":{"type":"order","side":"buy","symbol":"BTC-USD","quantity":"0.01","limitPrice":"64000","timeInForce":"GTC"}}`;

async function runUnlocked(options: DemoOptions): Promise<DemoSummary> {
  const log = options.log ?? (() => undefined);
  const clock = options.clock ?? systemClock;
  const { config, apiKey, apiKeyFile, addedPolicy } = prepareDemo(options.config);
  const logger = options.logger ?? pino({ level: 'warn' }, pino.destination(2));
  // `stop` ends submitting and waiting (Ctrl-C, or the end of the run); the gateway and then the
  // receipt sink stop after it, in that order, so the last receipts are still counted.
  const stop = new AbortController();
  const stopGateway = new AbortController();
  const drainSink = new AbortController();
  const stopAll = () => stop.abort();
  options.signal.addEventListener('abort', stopAll, { once: true });

  // Order matters: the requester creates its key on first run, the gateway trusts it, and audit
  // trusts both.
  // The operator page's stream heads, checkpoints and audit state (embedded: the data dir).
  const status = config.mode === 'embedded' ? embeddedOperatorStatus(config) : undefined;
  const requester = await createRequesterServiceFromConfig(config, {
    logger: logger.child({ service: 'requester' }),
    ...(status ? { operatorStatus: () => status.read() } : {}),
  });
  const split = options.gatewayProcess === true;
  if (split && config.mode !== 'embedded') {
    throw new CountersignError(
      'CONFIG_INVALID',
      'a separate gateway process needs the embedded mode',
    );
  }
  const exchange = await startDemoExchange(
    config,
    options.exchange ?? 'paper',
    options.sim ?? {},
    logger,
  );
  const gw = split
    ? await startGatewayProcess(exchange.config, log)
    : await startGatewayHere(exchange.config, logger, stopGateway.signal, requester.metrics);
  const audit = createAuditFromConfig(config, { metrics: requester.metrics });
  await audit.preflight();
  const server = await startHttpServer(requester.app, {
    host: config.requester.host,
    port: config.requester.port,
  }).catch((err: unknown) => {
    if (errorCodeOf(err) !== 'EADDRINUSE') throw err;
    log(`port ${config.requester.port} is busy; the API listens on a free port instead`);
    return startHttpServer(requester.app, { host: config.requester.host, port: 0 });
  });
  // The workload uses a key of this run only; the key for your own requests is never printed.
  log(
    `requester API on ${server.url}  (${apiKeyFile ? `your API key is in ${apiKeyFile}` : 'your API key: the one `countersign init` printed'})`,
  );
  if (addedPolicy) {
    log(
      `no policy for ${config.requester.id} in the configuration: the demo uses its own for this run`,
    );
  }
  log(
    `gateway ${config.gateway.id} (${config.mode}${split ? ', own process' : ''}), receipts signed with kid ${gw.kid.slice(0, 12)}…`,
  );
  if (exchange.sim) log(`exchange simulator on ${exchange.sim.url}, the gateway on HttpExchange`);
  const executionsBefore = exchange.executions(() => gw.executions());

  // Live audit: every receipt of this run is verified as it arrives.
  const expected = new Map<string, ExpectedEntry>();
  const seen = new Map<string, SeenReceipt>();
  // An ordinary order whose receipt is in is folded into the tally and forgotten, so memory
  // follows the orders still waiting, not the length of the run (a soak runs millions).
  const tally = newTally();
  let expectedCount = 0;
  const expect = (messageId: string, entry: ExpectedEntry) => {
    if (!expected.has(messageId)) expectedCount++;
    expected.set(messageId, entry);
    settle(messageId);
  };
  const settle = (messageId: string) => {
    const exp = expected.get(messageId);
    const got = seen.get(messageId);
    // Bad apples stay for their own expectation; an UNKNOWN waits for its follow-up receipt.
    if (!exp || exp.expect || !got || got.outcome === 'UNKNOWN') return;
    foldReceipt(tally, exp, got);
    expected.delete(messageId);
    seen.delete(messageId);
  };
  let liveVerified = 0;
  let liveFindings = 0;
  let unknownResolved = 0;
  let lastReceiptAt = clock.now();
  // Expected messages without a receipt yet (kept as a count: checked on every receipt).
  let pending = 0;
  let receiptArrived: () => void = () => undefined;
  const auditor = audit.createAuditor({
    window: { checkpointsUntil: null },
    onFinding: () => void liveFindings++,
  });
  // Embedded, a receipt is on the bus before its message leaves the queue: an empty read after
  // the gateway stopped is the end. On AWS the rule → SQS leg lags: wait for what is awaited
  // (not after an interruption: unprocessed messages have no receipt on the way).
  let awaitOutstanding = config.mode === 'aws';
  const sinkDone = startReceiptSink(
    config,
    audit,
    auditor,
    drainSink.signal,
    () => (awaitOutstanding ? pending : 0),
    clock,
    (messageId, receipt, verified) => {
      lastReceiptAt = clock.now();
      if (verified) liveVerified++;
      // Every receipt is kept: one may arrive before the HTTP response that names its message.
      // A follow-up receipt (UNKNOWN resolved) replaces the first one.
      const before = seen.get(messageId);
      if (!before && expected.has(messageId)) pending--;
      if (before?.outcome === 'UNKNOWN' && receipt.outcome !== 'UNKNOWN') unknownResolved++;
      seen.set(messageId, receipt);
      settle(messageId);
      receiptArrived();
    },
  );

  const startedAt = clock.now();
  const withBadApples = options.badApples !== false;
  // Generated as submitted: a soak of millions never holds the whole workload.
  function* orders(): Generator<DemoOrder> {
    yield* demoOrderStream(options.count, startedAt % 100_000);
    // The over-limit order is a bad apple too: signed and valid, but over the policy's notional.
    if (withBadApples) yield { account: DEMO_ACCOUNTS[0], txn: OVER_LIMIT_ORDER };
  }
  let httpOk = 0;
  let httpFailed = 0;
  let overLimit = 0;
  let direct = 0;
  const total = options.count + (withBadApples ? 7 : 0);
  const progress = () =>
    options.onProgress?.({ submitted: httpOk + direct, total, receipted: expectedCount - pending });
  const ticker = setInterval(progress, 250);
  // node:http with keep-alive: the demo's own client should cost the machine little (fetch
  // costs about as much as the server it calls).
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });

  // Backpressure: a request token lives lifetimeSec (60 s by default), and a gateway that falls
  // far enough behind must reject the old ones as EXPIRED. A bot would not flood the queue, and
  // neither does the demo: it keeps at most this many orders waiting for their receipt.
  const maxWaiting = Math.max(options.concurrency, options.maxWaiting ?? DEFAULT_MAX_WAITING);
  let paced = 0;
  const pacedFrom = clock.now();
  const submit = async (o: DemoOrder) => {
    if (options.ratePerSec !== undefined && options.ratePerSec > 0) {
      const wait = pacedFrom + (paced++ / options.ratePerSec) * 1000 - clock.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    while (pending >= maxWaiting && !stop.signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (stop.signal.aborted) return;
    const sentAt = clock.now();
    try {
      // No abort signal: on Ctrl-C requests in flight finish, so every enqueued order is counted.
      const res = await postJson(
        agent,
        `${server.url}/v1/transactions`,
        { authorization: `Bearer ${apiKey}` },
        { account: o.account, txn: o.txn },
      );
      const body = res.body as { messageId?: string; detail?: string };
      if (res.status !== 202 || !body.messageId) {
        httpFailed++;
        log(`HTTP ${res.status} for ${o.txn.clientRef ?? 'an order'}: ${body.detail ?? ''}`);
        return;
      }
      httpOk++;
      if (o.txn === OVER_LIMIT_ORDER) overLimit++;
      if (!seen.has(body.messageId)) pending++;
      expect(body.messageId, {
        sentAt,
        ...(o.txn === OVER_LIMIT_ORDER
          ? { expect: { outcome: 'REJECTED' as const, reason: 'NOTIONAL_TOO_HIGH' as ReasonCode } }
          : {}),
      });
    } catch (err) {
      httpFailed++;
      log(`submit failed: ${(err as Error).message}`);
    }
  };

  const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_MS[config.mode];
  const waitFor = async (done: () => boolean): Promise<boolean> => {
    while (!done()) {
      if (stop.signal.aborted) return false;
      if (clock.now() - lastReceiptAt > stallMs) return false;
      await new Promise<void>((resolve) => {
        receiptArrived = resolve;
        setTimeout(resolve, 200);
      });
    }
    return true;
  };

  let badApples: { now: BadApple[]; replay: BadApple } | undefined;
  if (withBadApples) {
    badApples = await buildBadApples({
      signer: requester.signer,
      issuer: config.requester.id,
      audience: config.gateway.id,
      account: DEMO_ACCOUNTS[1],
      clock,
    });
  }
  const planted: Record<string, string> = {};
  for (const apple of badApples ? [...badApples.now, badApples.replay] : []) {
    if (apple.expect.reason) planted[apple.expect.reason] = apple.name;
  }
  if (withBadApples) planted.NOTIONAL_TOO_HIGH = OVER_LIMIT_WHY;
  const sendDirect = async (apple: BadApple) => {
    const sentAt = clock.now();
    const { messageId } = await requester.queue.send(apple.message);
    if (!seen.has(messageId)) pending++;
    expect(messageId, { sentAt, expect: apple.expect });
    direct++;
    return messageId;
  };

  try {
    for (const apple of badApples?.now ?? []) await sendDirect(apple);
    lastReceiptAt = clock.now();
    if (badApples && !stop.signal.aborted) {
      // The replay goes out once its original has a receipt (so the outcome is deterministic),
      // and well inside the token's lifetime (so it is refused as a replay, not as expired).
      const originalId = [...expected].find(([, v]) => v.expect === badApples.now[4]!.expect)?.[0];
      await waitFor(() => originalId === undefined || seen.has(originalId));
      if (!stop.signal.aborted) await sendDirect(badApples.replay);
    }
    await pool(orders(), options.concurrency, stop.signal, submit);
    lastReceiptAt = clock.now();
    const complete = await waitFor(() => pending === 0);
    if (!complete && !stop.signal.aborted) {
      log(
        `gave up waiting: no receipt for ${Math.round(stallMs / 1000)} s, ${pending} receipts missing (their messages stay in the queue)`,
      );
    }
  } finally {
    clearInterval(ticker);
    agent.destroy();
    progress();
  }
  const finishedAt = clock.now();
  const interrupted = options.signal.aborted;
  // An interrupted run's unprocessed messages have no receipt on the way: do not wait for them.
  if (interrupted) awaitOutstanding = false;

  if (options.keepRunning && !interrupted) {
    const bearer = apiKeyFile ? `$(cat ${apiKeyFile})` : '<your API key>';
    log(
      `still running; submit your own orders:\n  curl -s -X POST ${server.url}/v1/transactions -H "authorization: Bearer ${bearer}" -H 'content-type: application/json' -d '${CURL_BODY}'\n` +
        `watch them live on the operator page: ${server.url}/operator/ (it asks for the API key)\nCtrl-C to stop.`,
    );
    await new Promise<void>((resolve) =>
      options.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
  }
  stop.abort();
  // The gateway finishes its in-flight messages and publishes their receipts; then the sink
  // reads what is left on the bus, so receipts and executions count the same messages.
  stopGateway.abort();
  await gw.stop().catch((err: unknown) => log(`gateway stopped with an error: ${String(err)}`));
  drainSink.abort();
  await sinkDone.catch((err: unknown) => log(`receipt sink stopped with an error: ${String(err)}`));
  await server.close();
  await requester.close();
  status?.close();
  const executionsNow = exchange.executions(() => gw.executions());
  await gw.close();
  // Receipts of this run that never arrived (the demo gave up waiting): their messages are
  // still in the queue or in flight, so a replay now would see chains that merely have not
  // caught up (a false "broken"), and the exactly-once count would compare a moving target.
  // Nothing is judged on that; the failed expectation says how many are missing.
  const missing = interrupted ? 0 : pending;
  const judge = !interrupted && missing === 0;
  if (exchange.sim) {
    const st = exchange.sim.stats();
    log(
      `exchange simulator: ${st.requests} requests, ${st.placed} orders, ${st.duplicates} duplicate submissions refused, ${st.faults} faults injected`,
    );
  }
  // This run's orders on its exchange against the receipts (an order filled without one shows
  // here); before the simulator stops, since its orders are read through HttpExchange.
  let reconciliation: AuditReport | undefined;
  if (judge && config.mode === 'embedded') {
    reconciliation = await reconcileWith(exchange.config, audit, {
      from: startedAt,
      to: clock.now() + 1,
    });
  }
  await exchange.close();

  // Full replay: from the beginning of the archive in the embedded mode (the chain of every run
  // so far), or from this run's start on EventBridge. An interrupted run leaves it to the next.
  let report: AuditReport | undefined;
  if (judge) {
    report = await audit.replay({
      from: config.mode === 'embedded' ? 0 : startedAt - 60_000,
      to: clock.now() + 1,
    });
  }
  await audit.close();
  options.signal.removeEventListener('abort', stopAll);

  // Exactly once. Embedded: the paper exchange's file and the archive both hold every run so
  // far, so compare totals. AWS: the exchange is per process, so compare what happened now.
  let exactlyOnce: { executions: number; executedReceipts: number } | null = null;
  if (report && config.mode === 'embedded') {
    exactlyOnce = {
      executions: executionsNow,
      executedReceipts: report.summary.byOutcome.EXECUTED,
    };
  } else if (judge && config.mode === 'aws') {
    const executed = [...seen].filter(([, r]) => r.outcome === 'EXECUTED').length;
    exactlyOnce = {
      executions: executionsNow - executionsBefore,
      executedReceipts: tally.executed + executed,
    };
  }

  return summarize({
    config,
    apiUrl: server.url,
    expected,
    seen,
    tally,
    expectedCount,
    httpOk,
    httpFailed,
    overLimit,
    direct,
    planted,
    liveVerified,
    liveFindings,
    unknownResolved,
    report,
    reconciliation,
    exactlyOnce,
    startedAt,
    finishedAt,
    interrupted,
    missing,
    count: options.count,
  });
}
