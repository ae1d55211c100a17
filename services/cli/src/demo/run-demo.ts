// The whole pipeline in one process: requester HTTP API → queue → gateway worker → bus → live
// audit, a demo workload with deliberate bad apples, then a full audit replay of the archive.
// The same code runs the embedded default and the AWS adapters (COUNTERSIGN_MODE=aws).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SQSClient } from '@aws-sdk/client-sqs';
import pino, { type Logger } from 'pino';
import {
  CountersignError,
  EmbeddedKeyNames,
  embeddedPaths,
  errorCodeOf,
  percentile,
  systemClock,
} from '@countersign/contracts';
import type { AuditReport, Clock, CountersignConfig, ReasonCode } from '@countersign/contracts';
import {
  createAuditFromConfig,
  formatVerdict,
  type Auditor,
  type IngestResult,
} from '@countersign/audit';
import {
  createGatewayFromConfig,
  createPaperExchange,
  createWorker,
} from '@countersign/exchange-gateway';
import { ensureLocalSigner } from '@countersign/signing';
import { createRequesterServiceFromConfig, startHttpServer } from '@countersign/requester';
import {
  createSqliteEventBus,
  createSqsQueue,
  parseEventBridgeEnvelope,
  type ReceivedMessage,
} from '@countersign/transport';
import { reconcileWith } from '../commands/audit-reconcile.ts';
import { buildBadApples, OVER_LIMIT_ORDER, type BadApple } from './bad-apples.ts';
import { startDemoExchange, type DemoExchangeKind, type DemoSimSettings } from './demo-exchange.ts';
import { prepareDemo } from './prepare.ts';
import { DEMO_ACCOUNTS, demoOrders, type DemoOrder } from './workload.ts';

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

export interface Expectation {
  readonly name: string;
  readonly expected: string;
  readonly actual: string;
  readonly ok: boolean;
}

export interface DemoSummary {
  readonly ok: boolean;
  readonly interrupted: boolean;
  readonly mode: CountersignConfig['mode'];
  readonly apiUrl: string;
  readonly submitted: {
    readonly http: number;
    readonly httpFailed: number;
    readonly direct: number;
    readonly total: number;
  };
  readonly receipts: {
    readonly total: number;
    readonly byOutcome: Record<string, number>;
    readonly rejectedByReason: Record<string, number>;
    /** Receipts for messages of an earlier, interrupted run. */
    readonly fromEarlierRuns: number;
  };
  readonly audit: {
    readonly liveVerified: number;
    readonly liveFindings: number;
    readonly replayReceipts: number;
    readonly replayFindings: number;
    readonly findingsByCode: Record<string, number>;
    readonly chain: 'intact' | 'broken';
    readonly streams: number;
    /** `audit reconcile` of this run on its exchange: its verdict line (embedded mode only). */
    readonly reconciliation: string;
  };
  readonly exactlyOnce: {
    readonly executions: number;
    readonly executedReceipts: number;
    readonly ok: boolean;
  };
  readonly throughputPerSec: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly durationMs: number;
  readonly expectations: readonly Expectation[];
}

interface SeenReceipt {
  readonly outcome: string;
  readonly reason: string | undefined;
  readonly at: number;
}

function decodePayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

function increment(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Runs `fn` over `items` with at most `limit` in flight; stops early when aborted. */
async function pool<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (!signal.aborted && next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

/** Feeds every receipt that reaches the audit side to the auditor and reports it. */
function startReceiptSink(
  config: CountersignConfig,
  auditor: Auditor,
  signal: AbortSignal,
  onReceipt: (messageId: string, receipt: SeenReceipt, verified: boolean) => void,
): Promise<void> {
  const clock = systemClock;
  const handleAll = async (details: readonly unknown[]) => {
    const results = await auditor.ingestMany(details);
    details.forEach((detail, i) => report(detail, results[i]!));
  };
  const handle = (detail: unknown) => handleAll([detail]);
  const report = (detail: unknown, result: IngestResult) => {
    if (result === 'duplicate' || result === 'skipped') return;
    const receipt = (detail as { receipt?: unknown }).receipt;
    if (typeof receipt !== 'string') return;
    const claims = decodePayload(receipt);
    onReceipt(
      String(claims.messageId),
      {
        outcome: String(claims.outcome),
        reason: claims.reason as string | undefined,
        at: clock.now(),
      },
      result === 'accepted',
    );
  };
  if (config.mode === 'embedded') {
    const bus = createSqliteEventBus({ path: embeddedPaths(config.dataDir).busDb });
    return (async () => {
      try {
        while (!signal.aborted) {
          const events = await bus
            .poll('demo', { max: 200, waitMs: 200, signal })
            .catch((err: unknown) => {
              if (signal.aborted) return [];
              throw err;
            });
          if (events.length > 0) await handleAll(events.map((e) => e.detail));
          const last = events[events.length - 1];
          if (last) await bus.commit('demo', last.id);
        }
      } finally {
        await bus.close();
      }
    })();
  }
  const queue = createSqsQueue({
    client: new SQSClient({}),
    queueUrl: config.audit.queueUrl ?? '',
    maxReceives: config.queue.maxReceives,
  });
  return (async () => {
    while (!signal.aborted) {
      let messages: ReceivedMessage[];
      try {
        messages = await queue.receive({ max: 10, waitMs: 1000, signal });
      } catch (err) {
        if (signal.aborted) break;
        throw err;
      }
      for (const m of messages) {
        let detail: unknown;
        try {
          detail = parseEventBridgeEnvelope(m.body).detail;
        } catch (err) {
          // Not an event at all: a finding for audit, not a crash of the demo.
          auditor.malformed(
            `audit queue message is not an EventBridge event: ${(err as Error).message}`,
          );
        }
        if (detail !== undefined) await handle(detail);
        await queue.delete(m.receiptHandle);
      }
    }
  })();
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
): Promise<DemoGateway> {
  const gateway = await createGatewayFromConfig(config, {
    logger: logger.child({ service: 'exchange-gateway' }),
    exclusive: true, // the data directory's gateway role lock (embedded mode)
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
  // The child reads exactly this configuration (demo API key hash and policy included).
  const file = join(config.dataDir, 'demo-gateway-config.json');
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
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

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const log = options.log ?? (() => undefined);
  const clock = options.clock ?? systemClock;
  const { config, apiKey, apiKeyFile } = prepareDemo(options.config);
  const logger = options.logger ?? pino({ level: 'warn' }, pino.destination(2));
  const stop = new AbortController();
  const stopAll = () => stop.abort();
  options.signal.addEventListener('abort', stopAll, { once: true });

  // Order matters: the requester creates its key on first run, the gateway trusts it, and audit
  // trusts both.
  const requester = await createRequesterServiceFromConfig(config, {
    logger: logger.child({ service: 'requester' }),
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
    : await startGatewayHere(exchange.config, logger, stop.signal);
  const audit = createAuditFromConfig(config);
  await audit.preflight();
  const server = await startHttpServer(requester.app, {
    host: config.requester.host,
    port: config.requester.port,
  }).catch((err: unknown) => {
    if (errorCodeOf(err) !== 'EADDRINUSE') throw err;
    log(`port ${config.requester.port} is busy; the API listens on a free port instead`);
    return startHttpServer(requester.app, { host: config.requester.host, port: 0 });
  });
  log(
    `requester API on ${server.url}  (API key${apiKeyFile ? ` in ${apiKeyFile}` : ''}: ${apiKey})`,
  );
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
  let lastReceiptAt = clock.now();
  // Expected messages without a receipt yet (kept as a count: checked on every receipt).
  let pending = 0;
  let receiptArrived: () => void = () => undefined;
  const auditor = audit.createAuditor({
    window: { checkpointsUntil: null },
    onFinding: () => void liveFindings++,
  });
  const sinkDone = startReceiptSink(
    config,
    auditor,
    stop.signal,
    (messageId, receipt, verified) => {
      lastReceiptAt = clock.now();
      if (verified) liveVerified++;
      // Every receipt is kept: one may arrive before the HTTP response that names its message.
      // A follow-up receipt (UNKNOWN resolved) replaces the first one.
      if (!seen.has(messageId) && expected.has(messageId)) pending--;
      seen.set(messageId, receipt);
      settle(messageId);
      receiptArrived();
    },
  );

  const startedAt = clock.now();
  const orders: DemoOrder[] = demoOrders(options.count, startedAt % 100_000);
  orders.push({ account: DEMO_ACCOUNTS[0], txn: OVER_LIMIT_ORDER });
  let httpOk = 0;
  let httpFailed = 0;
  let direct = 0;
  const total = orders.length + (options.badApples === false ? 0 : 6);
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

  const waitFor = async (done: () => boolean): Promise<boolean> => {
    const stall = options.stallTimeoutMs ?? 30_000;
    while (!done()) {
      if (stop.signal.aborted) return false;
      if (clock.now() - lastReceiptAt > stall) return false;
      await new Promise<void>((resolve) => {
        receiptArrived = resolve;
        setTimeout(resolve, 200);
      });
    }
    return true;
  };

  let badApples: { now: BadApple[]; replay: BadApple } | undefined;
  if (options.badApples !== false) {
    badApples = await buildBadApples({
      signer: requester.signer,
      issuer: config.requester.id,
      audience: config.gateway.id,
      account: DEMO_ACCOUNTS[1],
      clock,
    });
  }
  const sendDirect = async (apple: BadApple) => {
    const sentAt = clock.now();
    const { messageId } = await requester.queue.send(apple.message);
    if (!seen.has(messageId)) pending++;
    expect(messageId, { sentAt, expect: apple.expect });
    direct++;
    return messageId;
  };

  let complete: boolean;
  try {
    for (const apple of badApples?.now ?? []) await sendDirect(apple);
    lastReceiptAt = clock.now();
    if (badApples && !stop.signal.aborted) {
      // The replay goes out once its original has a receipt (so the outcome is deterministic),
      // and well inside the token's lifetime (so it is refused as a replay, not as expired).
      const originalId = [...expected].find(([, v]) => v.expect === badApples.now[4]!.expect)?.[0];
      await waitFor(() => originalId === undefined || seen.has(originalId));
      await sendDirect(badApples.replay);
    }
    await pool(orders, options.concurrency, stop.signal, submit);
    lastReceiptAt = clock.now();
    complete = await waitFor(() => pending === 0);
    if (!complete && !stop.signal.aborted) log(`gave up waiting: ${pending} receipts missing`);
  } finally {
    clearInterval(ticker);
    agent.destroy();
    progress();
  }
  const finishedAt = clock.now();
  const interrupted = options.signal.aborted;

  if (options.keepRunning && !interrupted) {
    log(
      `still running; submit your own orders:\n  curl -s -X POST ${server.url}/v1/transactions -H "authorization: Bearer ${apiKey}" -H 'content-type: application/json' -d '{"account":"${DEMO_ACCOUNTS[0]}","txn":{"type":"order","side":"buy","symbol":"BTC-USD","quantity":"0.01","limitPrice":"64000","timeInForce":"GTC"}}'\nCtrl-C to stop.`,
    );
    await new Promise<void>((resolve) =>
      options.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
  }
  stop.abort();
  await Promise.allSettled([gw.stop(), sinkDone]);
  await server.close();
  await requester.close();
  const executionsNow = exchange.executions(() => gw.executions());
  await gw.close();
  if (exchange.sim) {
    const st = exchange.sim.stats();
    log(
      `exchange simulator: ${st.requests} requests, ${st.placed} orders, ${st.duplicates} duplicate submissions refused, ${st.faults} faults injected`,
    );
  }
  // This run's orders on its exchange against the receipts (an order filled without one shows
  // here); before the simulator stops, since its orders are read through HttpExchange.
  let reconciliation: AuditReport | undefined;
  if (!interrupted && config.mode === 'embedded') {
    reconciliation = await reconcileWith(exchange.config, audit, {
      from: startedAt,
      to: clock.now() + 1,
    });
  }
  await exchange.close();

  // Full replay: from the beginning of the archive in the embedded mode (the chain of every run
  // so far), or from this run's start on EventBridge.
  let report: AuditReport | undefined;
  if (!interrupted) {
    report = await audit.replay({
      from: config.mode === 'embedded' ? 0 : startedAt - 60_000,
      to: clock.now() + 1,
    });
  }
  await audit.close();
  options.signal.removeEventListener('abort', stopAll);

  // Exactly once. Embedded: the paper exchange's file and the archive both hold every run so
  // far, so compare totals. AWS: the exchange is per process, so compare what happened now.
  const earlier = [...seen].filter(([id]) => !expected.has(id)).map(([, r]) => r);
  const fromEarlierRuns = earlier.length;
  const executedNow =
    tally.executed +
    [...seen].filter(([id, r]) => expected.has(id) && r.outcome === 'EXECUTED').length;
  const executedFromEarlierRuns = earlier.filter((r) => r.outcome === 'EXECUTED').length;
  const exactlyOnce =
    config.mode === 'embedded'
      ? { executions: executionsNow, executedReceipts: report?.summary.byOutcome.EXECUTED ?? -1 }
      : {
          executions: executionsNow - executionsBefore,
          executedReceipts: executedNow + executedFromEarlierRuns,
        };

  return summarize({
    config,
    apiUrl: server.url,
    expected,
    seen,
    tally,
    expectedCount,
    httpOk,
    httpFailed,
    direct,
    fromEarlierRuns,
    liveVerified,
    liveFindings,
    report,
    reconciliation,
    exactlyOnce,
    startedAt,
    finishedAt,
    interrupted,
    complete,
    count: options.count,
  });
}

interface SummaryInput {
  readonly config: CountersignConfig;
  readonly apiUrl: string;
  /** Orders not folded into the tally yet (waiting, UNKNOWN, bad apples). */
  readonly expected: ReadonlyMap<string, ExpectedEntry>;
  readonly seen: ReadonlyMap<string, SeenReceipt>;
  readonly tally: Tally;
  /** Every message this run expects a receipt for. */
  readonly expectedCount: number;
  readonly httpOk: number;
  readonly httpFailed: number;
  readonly direct: number;
  readonly fromEarlierRuns: number;
  readonly liveVerified: number;
  readonly liveFindings: number;
  readonly report: AuditReport | undefined;
  readonly reconciliation: AuditReport | undefined;
  readonly exactlyOnce: { readonly executions: number; readonly executedReceipts: number };
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly interrupted: boolean;
  readonly complete: boolean;
  readonly count: number;
}

interface ExpectedEntry {
  readonly sentAt: number;
  readonly expect?: BadApple['expect'];
}

/** Counts of the receipts matched to this run's orders. */
interface Tally {
  matched: number;
  executed: number;
  normal: number;
  normalExecuted: number;
  readonly byOutcome: Record<string, number>;
  readonly rejectedByReason: Record<string, number>;
  readonly latencies: number[];
}

function newTally(): Tally {
  return {
    matched: 0,
    executed: 0,
    normal: 0,
    normalExecuted: 0,
    byOutcome: {},
    rejectedByReason: {},
    latencies: [],
  };
}

/** Adds one order and its receipt to the tally (bad apples' own checks are separate). */
function foldReceipt(t: Tally, exp: ExpectedEntry, got: SeenReceipt): void {
  t.matched++;
  increment(t.byOutcome, got.outcome);
  if (got.reason && got.outcome === 'REJECTED') increment(t.rejectedByReason, got.reason);
  t.latencies.push(got.at - exp.sentAt);
  if (got.outcome === 'EXECUTED') t.executed++;
  if (!exp.expect) {
    t.normal++;
    if (got.outcome === 'EXECUTED') t.normalExecuted++;
  }
}

function summarize(s: SummaryInput): DemoSummary {
  // What is still in the maps (waiting, UNKNOWN, bad apples) joins the folded tally here.
  const t = s.tally;
  const apples: Expectation[] = [];
  for (const [id, exp] of s.expected) {
    const got = s.seen.get(id);
    if (!got) {
      if (!exp.expect) t.normal++;
      else
        apples.push({
          name: `${exp.expect.reason ?? exp.expect.outcome} receipt`,
          expected: 'a receipt',
          actual: 'none',
          ok: false,
        });
      continue;
    }
    foldReceipt(t, exp, got);
    if (exp.expect) {
      const want = `${exp.expect.outcome}${exp.expect.reason ? ` ${exp.expect.reason}` : ''}`;
      const actual = `${got.outcome}${got.reason ? ` ${got.reason}` : ''}`;
      apples.push({
        name: `${exp.expect.reason ?? 'replayed token original'}`,
        expected: want,
        actual,
        ok: want === actual,
      });
    }
  }
  const mine = t.matched;
  const { byOutcome, rejectedByReason, latencies, normal, normalExecuted } = t;
  latencies.sort((a, b) => a - b);
  const { executions, executedReceipts } = s.exactlyOnce;
  const report = s.report;
  const streams = report?.summary.streams ?? [];
  const chainIntact =
    report !== undefined && report.clean && streams.every((x) => x.status === 'ok');
  const findingsByCode: Record<string, number> = {};
  for (const f of report?.findings ?? []) increment(findingsByCode, f.code);
  const replayFindings = report ? report.findings.length : 0;
  const reconciliationFindings = s.reconciliation
    ? s.reconciliation.findings.length + s.reconciliation.findingsOmitted
    : 0;
  const expectations: Expectation[] = [
    {
      name: 'every submitted message got a receipt',
      expected: String(s.expectedCount),
      actual: String(mine),
      ok: s.complete,
    },
    {
      name: 'demo orders executed',
      expected: String(normal),
      actual: String(normalExecuted),
      ok: normal === normalExecuted && normal >= s.count,
    },
    ...apples,
    {
      name: 'receipts verified by live audit',
      expected: String(mine),
      actual: String(s.liveVerified),
      ok: s.liveVerified >= mine && s.liveFindings === 0,
    },
    {
      name: 'audit replay findings',
      expected: '0',
      actual: String(replayFindings),
      ok: report !== undefined && replayFindings === 0,
    },
    {
      name: 'receipt chains intact',
      expected: 'intact',
      actual: chainIntact ? 'intact' : 'broken',
      ok: chainIntact,
    },
    ...(s.config.mode === 'embedded'
      ? [
          {
            name: 'exchange reconciliation findings',
            expected: '0',
            actual: String(reconciliationFindings),
            ok: s.reconciliation?.clean === true,
          },
        ]
      : []),
    {
      name: 'exchange executions = EXECUTED receipts',
      expected: String(executedReceipts),
      actual: String(executions),
      ok: executions === executedReceipts,
    },
  ];
  const durationMs = Math.max(1, s.finishedAt - s.startedAt);
  return {
    ok: !s.interrupted && expectations.every((e) => e.ok),
    interrupted: s.interrupted,
    mode: s.config.mode,
    apiUrl: s.apiUrl,
    submitted: {
      http: s.httpOk,
      httpFailed: s.httpFailed,
      direct: s.direct,
      total: s.httpOk + s.direct,
    },
    receipts: {
      total: mine,
      byOutcome,
      rejectedByReason,
      fromEarlierRuns: s.fromEarlierRuns,
    },
    audit: {
      liveVerified: s.liveVerified,
      liveFindings: s.liveFindings,
      replayReceipts: report?.summary.receipts ?? 0,
      replayFindings,
      findingsByCode,
      chain: chainIntact ? 'intact' : 'broken',
      streams: streams.length,
      reconciliation: s.reconciliation
        ? formatVerdict(s.reconciliation)
        : s.config.mode === 'embedded'
          ? 'not run (interrupted)'
          : 'not run (aws mode: no exchange adapter lists orders yet)',
    },
    exactlyOnce: {
      executions: executions,
      executedReceipts,
      ok: executions === executedReceipts,
    },
    throughputPerSec: Math.round((mine / durationMs) * 1000 * 10) / 10,
    latencyMs: {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? 0,
    },
    durationMs,
    expectations,
  };
}
