// The requester HTTP API on a real server (127.0.0.1, port 0) with the real embedded SQLite
// queue and a local ES256 signer: every status code of the issue, and the OpenAPI document.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importJWK, jwtVerify } from 'jose';
import { pino } from 'pino';
import { validate, compileErrors } from '@readme/openapi-parser';
import { createLocalSigner } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import { createSqliteQueue } from '@countersign/transport';
import type { SqliteQueue } from '@countersign/transport';
import {
  createMemoryIdempotencyStore,
  createRequester,
  createRequesterApp,
  createSqliteIdempotencyStore,
  generateApiKey,
  startHttpServer,
} from '@countersign/requester';
import { unknownTransactions } from '@countersign/requester/testing';
import type { Requester, RunningServer } from '@countersign/requester';
import { SAMPLE_TXN as txn } from './support/requester-fixtures.ts';

const MAX_BODY = 4096;

let dir: string;
let queue: SqliteQueue;
let signer: Signer;
let server: RunningServer;
let logLines: string[];
const bot = generateApiKey('bot-a', ['acct-1', 'acct-2']);
const other = generateApiKey('bot-b', ['acct-9']);

async function startApp(requester: Requester): Promise<RunningServer> {
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    }),
  );
  const app = createRequesterApp({
    requester,
    apiKeys: [bot.entry, other.entry],
    idempotency: createSqliteIdempotencyStore({
      path: join(dir, 'requester.sqlite'),
      clock: { now: () => Date.now() },
    }),
    transactions: unknownTransactions,
    logger,
    maxBodyBytes: MAX_BODY,
  });
  return startHttpServer(app, { host: '127.0.0.1', port: 0 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'requester-http-'));
  logLines = [];
  queue = createSqliteQueue({
    path: join(dir, 'queue.sqlite'),
    visibilityTimeoutSec: 30,
    maxReceives: 3,
  });
  signer = await createLocalSigner({
    privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    alg: 'ES256',
  });
  const requester = createRequester({
    signer,
    queue,
    issuer: 'bot-issuer',
    audience: 'gw-1',
    lifetimeSec: 60,
    clock: { now: () => Date.now() },
  });
  server = await startApp(requester);
});

afterAll(async () => {
  await server?.close();
  await queue?.close();
  rmSync(dir, { recursive: true, force: true });
});

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${bot.key}`,
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function drain(): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const got = await queue.receive({ max: 10, waitMs: 0 });
    if (got.length === 0) return bodies;
    for (const m of got) {
      bodies.push(m.body);
      await queue.delete(m.receiptHandle);
    }
  }
}

async function expectProblem(res: Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as {
    type: string;
    title: string;
    status: number;
    detail: string;
    errors?: { path: string; message: string }[];
  };
  expect(body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  return body;
}

describe('requester HTTP API', () => {
  it('GET /healthz → 200 without a key', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('POST /v1/transactions → 202 { jti, messageId }, the token (not returned) is on the queue', async () => {
    await drain();
    const res = await post(
      '/v1/transactions',
      { account: 'acct-1', txn },
      { 'x-request-id': 'req-123' },
    );
    expect(res.status).toBe(202);
    expect(res.headers.get('x-request-id')).toBe('req-123');
    const body = (await res.json()) as { jti: string; messageId: string };
    expect(Object.keys(body).sort()).toEqual(['jti', 'messageId']);
    const [token, ...rest] = await drain();
    expect(rest).toHaveLength(0);
    const { payload } = await jwtVerify(token!, await importJWK({ ...signer.publicJwk }, 'ES256'), {
      issuer: 'bot-issuer',
      audience: 'gw-1',
      typ: 'txn+jwt',
    });
    expect(payload).toMatchObject({ sub: 'acct-1', jti: body.jti, txn });
  });

  it('401 without a key, with a bad key and with a malformed header (WWW-Authenticate: Bearer)', async () => {
    for (const authorization of [
      undefined,
      'Bearer not-a-key',
      `Basic ${bot.key}`,
      bot.entry.sha256,
    ]) {
      const res = await fetch(`${server.url}/v1/transactions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify({ account: 'acct-1', txn }),
      });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      await expectProblem(res, 401);
    }
  });

  it('403 for an account the key is not bound to (single and batch)', async () => {
    await drain();
    const single = await expectProblem(
      await post('/v1/transactions', { account: 'acct-9', txn }),
      403,
    );
    expect(single.errors).toEqual([{ path: 'account', message: expect.any(String) }]);
    const batch = await expectProblem(
      await post('/v1/transactions:batch', {
        items: [
          { account: 'acct-1', txn },
          { account: 'acct-9', txn },
        ],
      }),
      403,
    );
    expect(batch.errors?.map((e) => e.path)).toEqual(['items[1].account']);
    expect(await drain()).toHaveLength(0); // nothing of a forbidden batch is enqueued
  });

  it('413 when Content-Length is over the limit, and when a chunked body streams past it', async () => {
    const big = JSON.stringify({
      account: 'acct-1',
      txn: { ...txn, clientRef: 'x'.repeat(MAX_BODY) },
    });
    await expectProblem(await post('/v1/transactions', big), 413);
    // Chunked: no Content-Length, the limit is enforced on the bytes actually read.
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${server.url}/v1/transactions`);
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${bot.key}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(1024));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('422 problem+json for malformed JSON, and lists each bad field path', async () => {
    const bad = await expectProblem(await post('/v1/transactions', '{"account":'), 422);
    expect(bad.errors?.length).toBeGreaterThan(0);
    const res = await expectProblem(
      await post('/v1/transactions', {
        account: 'acct 1',
        txn: { ...txn, quantity: '1e3', side: 'short', bogus: true },
      }),
      422,
    );
    expect(res.errors?.map((e) => e.path).sort()).toEqual([
      'account',
      'txn',
      'txn.quantity',
      'txn.side',
    ]);
    const batch = await expectProblem(
      await post('/v1/transactions:batch', {
        items: [
          { account: 'acct-1', txn },
          { account: 'acct-1', txn },
          { account: 'acct-1', txn },
          { account: 'acct-1', txn: { ...txn, side: 'hold' } },
          { account: 'acct-1', txn: { ...txn, limitPrice: 64000 } },
        ],
      }),
      422,
    );
    expect(batch.errors?.map((e) => e.path)).toEqual([
      'items[3].txn.side',
      'items[4].txn.limitPrice',
    ]);
    const empty = await expectProblem(await post('/v1/transactions:batch', { items: [] }), 422);
    expect(empty.errors?.map((e) => e.path)).toEqual(['items']);
    await expectProblem(await post('/v1/transactions', {}, { 'content-type': 'text/plain' }), 415);
  });

  it('Idempotency-Key: same body → the first { jti, messageId }, one message only; other body → 409', async () => {
    await drain();
    const key = { 'idempotency-key': 'order-2026-001' };
    const first = await post('/v1/transactions', { account: 'acct-2', txn }, key);
    expect(first.status).toBe(202);
    const a = (await first.json()) as { jti: string; messageId: string };
    // Same body with keys in another order is the same body.
    const again = await post('/v1/transactions', { txn, account: 'acct-2' }, key);
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(a);
    expect(await drain()).toHaveLength(1);
    const conflict = await post(
      '/v1/transactions',
      { account: 'acct-2', txn: { ...txn, side: 'sell' } },
      key,
    );
    await expectProblem(conflict, 409);
    // Keys are scoped per API key: the other client may use the same key string.
    const theirs = await fetch(`${server.url}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${other.key}`, ...key },
      body: JSON.stringify({ account: 'acct-9', txn }),
    });
    expect(theirs.status).toBe(202);
    expect(((await theirs.json()) as { jti: string }).jti).not.toBe(a.jti);
    await drain();
  });

  it('POST /v1/transactions:batch → 202 with a result per item, in order', async () => {
    await drain();
    const items = Array.from({ length: 12 }, (_, i) => ({
      account: i % 2 ? 'acct-1' : 'acct-2',
      txn,
    }));
    const res = await post('/v1/transactions:batch', { items });
    expect(res.status).toBe(202);
    const body = (await res.json()) as {
      accepted: number;
      failed: number;
      items: { index: number; ok: boolean; jti: string }[];
    };
    expect(body.accepted).toBe(12);
    expect(body.failed).toBe(0);
    expect(body.items.map((i) => i.index)).toEqual(items.map((_, i) => i));
    expect(JSON.stringify(body)).not.toMatch(/eyJ/); // no token in the answer
    expect(await drain()).toHaveLength(12);
  });

  it('404 and 500 are problems without internals', async () => {
    await expectProblem(await fetch(`${server.url}/nope`), 404);
    const failing: Requester = {
      submit: () => Promise.reject(new Error('secret internal detail /etc/passwd')),
      submitMany: () => Promise.reject(new Error('secret')),
      sign: () => Promise.reject(new Error('secret')),
      signMany: () => Promise.reject(new Error('secret')),
      send: () => Promise.reject(new Error('secret')),
    };
    const s = await startApp(failing);
    try {
      const res = await fetch(`${s.url}/v1/transactions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bot.key}` },
        body: JSON.stringify({ account: 'acct-1', txn }),
      });
      const p = await expectProblem(res, 500);
      expect(JSON.stringify(p)).not.toContain('secret');
    } finally {
      await s.close();
    }
  });

  it('logs one JSON line per request with a request id, never a key or a token', async () => {
    logLines.length = 0;
    const res = await post(
      '/v1/transactions',
      { account: 'acct-1', txn },
      { 'x-request-id': 'trace-77' },
    );
    expect(res.status).toBe(202);
    const [token] = await drain();
    const logs = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      logs.some((l) => l.reqId === 'trace-77' && l.status === 202 && l.apiKey === 'bot-a'),
    ).toBe(true);
    const all = logLines.join('\n');
    expect(all).not.toContain(bot.key);
    expect(all).not.toContain(token!.split('.')[2]);
    // A request id that could inject into logs is replaced by a generated one.
    const weird = await post(
      '/v1/transactions',
      { account: 'acct-1', txn },
      { 'x-request-id': 'a b\tc' },
    );
    expect(weird.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await drain();
  });

  it('serves an OpenAPI 3.1 document that validates', async () => {
    const res = await fetch(`${server.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/healthz',
      '/v1/transactions',
      '/v1/transactions/{jti}',
      '/v1/transactions:batch',
    ]);
    const result = await validate(structuredClone(doc) as never);
    if (!result.valid) throw new Error(compileErrors(result));
    expect(result.valid).toBe(true);
  });
});

describe('memory idempotency store behind the app', () => {
  it('works the same as the SQLite one (replay)', async () => {
    const q = createSqliteQueue({
      path: join(dir, 'q2.sqlite'),
      visibilityTimeoutSec: 30,
      maxReceives: 3,
    });
    const app = createRequesterApp({
      requester: createRequester({
        signer,
        queue: q,
        issuer: 'i',
        audience: 'a',
        lifetimeSec: 60,
        clock: { now: () => Date.now() },
      }),
      apiKeys: [bot.entry],
      idempotency: createMemoryIdempotencyStore({ clock: { now: () => Date.now() } }),
      transactions: unknownTransactions,
      logger: pino({ level: 'silent' }),
      maxBodyBytes: 1_000_000,
    });
    const init = {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${bot.key}`,
        'idempotency-key': 'k',
      },
      body: JSON.stringify({ account: 'acct-1', txn }),
    };
    const a = await app.request('/v1/transactions', init);
    const b = await app.request('/v1/transactions', init);
    expect(a.status).toBe(202);
    expect(await b.json()).toEqual(await a.json());
    expect((await q.receive({ max: 10, waitMs: 0 })).length).toBe(1);
    // More than 100 items (under the body limit here) → 422 on `items`.
    const tooMany = await app.request('/v1/transactions:batch', {
      ...init,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bot.key}` },
      body: JSON.stringify({
        items: Array.from({ length: 101 }, () => ({ account: 'acct-1', txn })),
      }),
    });
    expect(tooMany.status).toBe(422);
    expect(((await tooMany.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe(
      'items',
    );
    await q.close();
  });
});
