// Requester crash windows on the embedded runtime (issue 13 F2, F5).
//
// F2: a requester process is killed (SIGKILL from an injected hook, no cleanup) at an exact point
// of an Idempotency-Key request; a restarted requester on the same files gets the client's retry
// after the lease. The client must get the same jti, the queue must hold one message per order,
// and the real gateway pipeline (exchange-gateway's harness: verifier, nonce store, paper
// exchange) must execute each order once.
//
// F5: another process holds the idempotency database's write lock; the requester must keep
// answering (/healthz, requests without a key) and log SQLite's cause when it gives up.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createLocalSigner } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import { createSqliteQueue } from '@countersign/transport';
import type { ReceivedMessage, SqliteQueue } from '@countersign/transport';
import { decodeUnverified } from '@countersign/verifier';
import {
  IDEMPOTENCY_LEASE_MS,
  createRequester,
  createRequesterApp,
  createSqliteIdempotencyStore,
  generateApiKey,
  startHttpServer,
} from '@countersign/requester';
import { unknownTransactions } from '@countersign/requester/testing';
import type { IdempotencyStore } from '@countersign/requester';
import {
  GATEWAY_ID,
  REQUESTER_ID,
  createHarness,
  fakeClock,
  type FakeBus,
  type Harness,
} from '@countersign/exchange-gateway/testing';
import { SAMPLE_TXN as txn } from './support/requester-fixtures.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const ACCOUNTS = ['acct-1', 'acct-2', 'acct-3', 'acct-4'];
const bot = generateApiKey('bot-a', ACCOUNTS);

let dir: string;
let privateKey: KeyObject;
let signer: Signer;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'requester-faults-'));
  privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  signer = await createLocalSigner({ privateKey, alg: 'ES256' });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function spawnTsx(script: string, args: readonly string[]) {
  // node with tsx in-process (the tsx CLI would put the real process in a grandchild).
  return spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'test', 'support', script), ...args],
    {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
}

/** Runs the crashing requester child on `dir` until the injected point kills it. */
async function crashChild(
  crashAt: 'send' | 'complete',
  nowMs: number,
  request: { path: string; body: unknown; key: string },
): Promise<void> {
  const child = spawnTsx('requester-crash-child.ts', [
    dir,
    crashAt,
    String(nowMs),
    REQUESTER_ID,
    GATEWAY_ID,
  ]);
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<NodeJS.Signals | null>((done) =>
    child.once('exit', (_code, signal) => done(signal)),
  );
  child.stdin.end(
    JSON.stringify({
      pem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      apiKey: bot.key,
      entry: bot.entry,
      ...request,
    }),
  );
  expect(await exited, out).toBe('SIGKILL');
}

/** The restarted requester: same files, same key, the harness's clock. */
function restarted(h: Harness) {
  const queue = createSqliteQueue({
    path: join(dir, 'queue.sqlite'),
    visibilityTimeoutSec: 30,
    maxReceives: 5,
    clock: h.clock,
  });
  const idempotency = createSqliteIdempotencyStore({
    path: join(dir, 'requester.sqlite'),
    clock: h.clock,
  });
  const app = createRequesterApp({
    requester: createRequester({
      signer,
      queue,
      issuer: REQUESTER_ID,
      audience: GATEWAY_ID,
      lifetimeSec: 300,
      clock: h.clock,
    }),
    apiKeys: [bot.entry],
    idempotency,
    transactions: unknownTransactions,
    logger: pino({ level: 'silent' }),
    maxBodyBytes: 1_000_000,
  });
  const post = (path: string, body: unknown, key: string) =>
    app.request(path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${bot.key}`,
        'idempotency-key': key,
      },
      body: JSON.stringify(body),
    });
  return {
    queue,
    post,
    close: async () => {
      await idempotency.close?.();
      await queue.close();
    },
  };
}

/** Receives (and deletes) everything on the queue, runs each through the gateway pipeline. */
async function gatewayDrains(h: Harness, queue: SqliteQueue) {
  const messages: ReceivedMessage[] = [];
  const outcomes: { outcome: string; reason?: string }[] = [];
  for (;;) {
    const got = await queue.receive({ max: 10, waitMs: 0 });
    if (got.length === 0) return { messages, outcomes };
    for (const m of got) {
      messages.push(m);
      const r = await h.processor.process(m);
      expect(r.action).toBe('delete');
      if (r.action === 'delete') {
        outcomes.push({ outcome: r.outcome, ...(r.reason ? { reason: r.reason } : {}) });
      }
      await queue.delete(m.receiptHandle);
    }
  }
}
const jtiOf = (token: string) => decodeUnverified(token)?.jti;
const executions = (h: Harness) => h.exchange.executions!();

describe('F2: a retry after a requester crash executes the order once (embedded)', () => {
  it('POST /v1/transactions killed after the enqueue, before the answer was recorded', async () => {
    const h = await createHarness({ requesterSigner: signer, clock: fakeClock() });
    const T0 = h.clock.now();
    const request = { path: '/v1/transactions', body: { account: 'acct-1', txn }, key: 'o-1' };
    await crashChild('complete', T0, request);

    const r = restarted(h);
    h.clock.advance(1000);
    // Within the lease the first attempt may still be running: 409, nothing sent.
    expect((await r.post(request.path, request.body, request.key)).status).toBe(409);
    h.clock.advance(IDEMPOTENCY_LEASE_MS);
    const retry = await r.post(request.path, request.body, request.key);
    expect(retry.status).toBe(202);
    const { jti } = (await retry.json()) as { jti: string };

    const { messages, outcomes } = await gatewayDrains(h, r.queue);
    expect(messages.map((m) => jtiOf(m.body))).toEqual([jti]); // the queue's dedup took the copy
    expect(outcomes).toEqual([{ outcome: 'EXECUTED' }]);
    expect(executions(h)).toBe(1);
    // Later retries replay the recorded answer.
    const again = await r.post(request.path, request.body, request.key);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as { jti: string }).jti).toBe(jti);
    await r.close();
  });

  it('POST /v1/transactions:batch killed after the enqueue: every item keeps its jti', async () => {
    const h = await createHarness({ requesterSigner: signer, clock: fakeClock() });
    const items = ACCOUNTS.map((account, i) => ({
      account,
      txn: { ...txn, clientRef: `b-${i}` },
    }));
    const request = { path: '/v1/transactions:batch', body: { items }, key: 'b-1' };
    await crashChild('complete', h.clock.now(), request);

    const r = restarted(h);
    h.clock.advance(IDEMPOTENCY_LEASE_MS + 1000);
    const retry = await r.post(request.path, request.body, request.key);
    expect(retry.status).toBe(202);
    const body = (await retry.json()) as { accepted: number; items: { jti: string }[] };
    expect(body.accepted).toBe(4);

    const { messages, outcomes } = await gatewayDrains(h, r.queue);
    expect(messages.map((m) => jtiOf(m.body)).sort()).toEqual(body.items.map((i) => i.jti).sort());
    expect(outcomes.every((o) => o.outcome === 'EXECUTED')).toBe(true);
    expect(executions(h)).toBe(4);
    await r.close();
  });

  it('killed before the enqueue, retried after the token expired: the same jti is sent and rejected EXPIRED', async () => {
    const h = await createHarness({ requesterSigner: signer, clock: fakeClock() });
    const T0 = h.clock.now();
    const request = { path: '/v1/transactions', body: { account: 'acct-2', txn }, key: 'o-2' };
    await crashChild('send', T0, request);

    const r = restarted(h);
    expect(r.queue.depth().visible).toBe(0); // nothing left the dead requester
    h.clock.advance(10 * 60_000); // past exp (300 s) + skew: the kept token is no longer usable
    const retry = await r.post(request.path, request.body, request.key);
    expect(retry.status).toBe(202);
    const { jti } = (await retry.json()) as { jti: string };

    const { messages, outcomes } = await gatewayDrains(h, r.queue);
    expect(messages).toHaveLength(1);
    // The token signed by the dead process, not a new one.
    expect(decodeUnverified(messages[0]!.body)).toMatchObject({ jti, iat: Math.floor(T0 / 1000) });
    expect(outcomes).toEqual([{ outcome: 'REJECTED', reason: 'EXPIRED' }]);
    expect(executions(h)).toBe(0);
    // A signed receipt answers it, carrying that very token for the audit.
    const [event] = (h.bus as FakeBus).events;
    expect(event!.request).toBe(messages[0]!.body);
    expect(await h.verifyReceipt(event!.receipt)).toMatchObject({
      outcome: 'REJECTED',
      reason: 'EXPIRED',
    });
    await r.close();
  });

  it('retried after the queue’s dedup window: the copy reaches the gateway, whose replay guard absorbs it', async () => {
    const h = await createHarness({ requesterSigner: signer, clock: fakeClock() });
    const request = { path: '/v1/transactions', body: { account: 'acct-3', txn }, key: 'o-3' };
    await crashChild('complete', h.clock.now(), request);

    const r = restarted(h);
    h.clock.advance(1000);
    const first = await gatewayDrains(h, r.queue); // the gateway ran the order meanwhile
    expect(first.outcomes).toEqual([{ outcome: 'EXECUTED' }]);
    h.clock.advance(5 * 60_000); // > 5 min dedup window, token (300 s + 30 s skew) still valid
    const retry = await r.post(request.path, request.body, request.key);
    expect(retry.status).toBe(202);
    const { jti } = (await retry.json()) as { jti: string };
    expect(jti).toBe(jtiOf(first.messages[0]!.body));

    const second = await gatewayDrains(h, r.queue);
    expect(second.messages.map((m) => m.body)).toEqual([first.messages[0]!.body]);
    expect(second.outcomes).toEqual([{ outcome: 'REJECTED', reason: 'REPLAYED' }]);
    expect(executions(h)).toBe(1);
    await r.close();
  });
});

describe('F5: another process holds the idempotency database lock', () => {
  const body = { account: 'acct-1', txn };

  function lockHolder(path: string) {
    const child = spawnTsx('sqlite-lock-child.ts', [path]);
    let out = '';
    const said = (word: string) =>
      new Promise<void>((done, fail) => {
        const check = () => out.includes(word) && done();
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          check();
        });
        child.once('exit', (code) => fail(new Error(`lock child exited (${code}): ${out}`)));
        check();
      });
    return {
      locked: said('locked'),
      release: async () => {
        child.stdin.write('go\n');
        await said('released');
      },
      kill: () => child.kill('SIGKILL'),
    };
  }

  it('healthz and requests without a key answer meanwhile; the keyed request completes after the lock is released', async () => {
    const logLines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          logLines.push(chunk.toString());
          cb();
        },
      }),
    );
    const clock = { now: () => Date.now() };
    const dbPath = join(dir, 'requester.sqlite');
    const store = createSqliteIdempotencyStore({ path: dbPath, clock, busyTimeoutMs: 30_000 });
    // The same file through a store that gives up quickly, for the 503 and its log line.
    const impatient = createSqliteIdempotencyStore({ path: dbPath, clock, busyTimeoutMs: 200 });
    let beganWaiting!: () => void;
    const waiting = new Promise<void>((r) => (beganWaiting = r));
    const watched: IdempotencyStore = {
      ...store,
      begin: (...args) => {
        const p = store.begin(...args);
        beganWaiting();
        return p;
      },
    };
    const queue = createSqliteQueue({
      path: join(dir, 'queue.sqlite'),
      visibilityTimeoutSec: 30,
      maxReceives: 5,
    });
    const requester = createRequester({
      signer,
      queue,
      issuer: 'bot',
      audience: 'gw',
      lifetimeSec: 60,
      clock,
    });
    const app = (idempotency: IdempotencyStore) =>
      createRequesterApp({
        requester,
        apiKeys: [bot.entry],
        idempotency,
        transactions: unknownTransactions,
        logger,
        maxBodyBytes: 100_000,
      });
    const server = await startHttpServer(app(watched), { host: '127.0.0.1', port: 0 });
    const holder = lockHolder(dbPath);
    try {
      await holder.locked;
      const post = (headers: Record<string, string> = {}) =>
        fetch(`${server.url}/v1/transactions`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${bot.key}`,
            ...headers,
          },
          body: JSON.stringify(body),
        });
      let keyedDone = false;
      const keyed = post({ 'idempotency-key': 'held-1' }).finally(() => (keyedDone = true));
      await waiting; // the keyed request now waits for the lock

      // The event loop is free: a 50 ms timer fires on time (liveness bound, not a benchmark).
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 50));
      expect(performance.now() - t0).toBeLessThan(500);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect((await post()).status).toBe(202);
      expect(keyedDone).toBe(false);

      // Past the busy timeout: 503, and the log line says why (SQLite's code and message).
      const quick = await app(impatient).request('/v1/transactions', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${bot.key}`,
          'idempotency-key': 'held-2',
        },
        body: JSON.stringify(body),
      });
      expect(quick.status).toBe(503);
      const failed = logLines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'request failed');
      expect(failed).toMatchObject({
        code: 'STORE_FAILED',
        details: { sqliteCode: 'SQLITE_BUSY', retryable: true },
        cause: [{ code: 'SQLITE_BUSY', message: 'database is locked' }],
      });

      expect(keyedDone).toBe(false);
      await holder.release();
      const done = await keyed;
      expect(done.status).toBe(202);
      expect((await done.json()) as { jti: string }).toMatchObject({ jti: expect.any(String) });
    } finally {
      holder.kill();
      await server.close();
      await impatient.close?.();
      await store.close?.();
      await queue.close();
    }
  });
});
