// The submit lane (http-lane.ts) against the app it stands in front of: the same requests, byte
// for byte, go (1) through hono in process (`app.request`), (2) over a socket to startHttpServer
// (the lane, falling back to the app) and (3) over a socket to the app alone
// (`getRequestListener(app.fetch)`, what startHttpServer served before the lane). Each path has
// its own app with its own SQLite stores, so replays and conflicts line up case by case. The
// answers (status, headers, body with ids normalised), the log lines and the refusal metric must
// be equal. Then the failure paths: a client gone while its order is signed, a store or queue
// that fails, a server closed with requests in flight.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRequestListener } from '@hono/node-server';
import { pino } from 'pino';
import { systemClock } from '@countersign/contracts';
import type { Metrics } from '@countersign/observability';
import { createLocalSigner, type Signer } from '@countersign/signing';
import {
  createSqliteQueue,
  queueError,
  type Queue,
  type SqliteQueue,
} from '@countersign/transport';
import { generateApiKey } from './api-keys.ts';
import { createRequesterApp } from './http-app.ts';
import type { IdempotencyStore } from './idempotency-store.ts';
import { createRequester } from './requester.ts';
import { startHttpServer, type RunningServer } from './server.ts';
import { createSqliteIdempotencyStore } from './sqlite-idempotency-store.ts';
import { SAMPLE_TXN } from './testing/fixtures.ts';
import { unknownTransactions } from './testing/transactions.ts';

const MAX_BODY = 2048;
const bot = generateApiKey('bot-a', ['acct-1', 'acct-2']);
const other = generateApiKey('bot-b', ['acct-9']);
const BODY = JSON.stringify({ account: 'acct-1', txn: SAMPLE_TXN });
const OTHER_BODY = JSON.stringify({ account: 'acct-2', txn: SAMPLE_TXN });

let dir: string;
let signer: Signer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'http-lane-'));
  signer = await createLocalSigner({
    privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    alg: 'ES256',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---- one requester app with its own stores, logs and metrics ----

interface Rig {
  readonly app: ReturnType<typeof createRequesterApp>;
  readonly queue: SqliteQueue;
  readonly logs: Record<string, unknown>[];
  readonly refusals: string[];
  close(): Promise<void>;
}

interface RigOptions {
  /** Wraps the queue, the idempotency store or the signer (fault injection). */
  readonly queue?: (q: Queue) => Queue;
  readonly idempotency?: (s: IdempotencyStore) => IdempotencyStore;
  readonly signer?: (s: Signer) => Signer;
}

let rigs = 0;
function rig(o: RigOptions = {}): Rig {
  const name = `rig-${++rigs}`;
  const logs: Record<string, unknown>[] = [];
  const refusals: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const metrics: Metrics = {
    count: (metric, labels) => {
      if (metric === 'requests_total') refusals.push(JSON.stringify(labels));
    },
    observe: () => undefined,
  };
  const queue = createSqliteQueue({
    path: join(dir, `${name}-queue.sqlite`),
    visibilityTimeoutSec: 30,
    maxReceives: 3,
  });
  const store = createSqliteIdempotencyStore({
    path: join(dir, `${name}-requester.sqlite`),
    clock: systemClock,
  });
  const app = createRequesterApp({
    requester: createRequester({
      signer: o.signer ? o.signer(signer) : signer,
      queue: o.queue ? o.queue(queue) : queue,
      issuer: 'bot-issuer',
      audience: 'gw-1',
      lifetimeSec: 60,
      clock: systemClock,
    }),
    apiKeys: [bot.entry, other.entry],
    idempotency: o.idempotency ? o.idempotency(store) : store,
    transactions: unknownTransactions,
    logger,
    maxBodyBytes: MAX_BODY,
    metrics,
  });
  return {
    app,
    queue,
    logs,
    refusals,
    close: async () => {
      await store.close?.();
      await queue.close();
    },
  };
}

/** The app alone on node:http: what startHttpServer served before the lane. */
function startAppOnly(app: Rig['app']): Promise<{ port: number; close(): Promise<void> }> {
  const listener = getRequestListener(app.fetch, { hostname: '127.0.0.1' });
  const server: Server = createServer((req, res) => void listener(req, res));
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

// ---- a raw HTTP/1.x client ----

interface WireRequest {
  readonly method?: string;
  readonly target?: string;
  readonly version?: '1.0' | '1.1';
  /** Replaces (null: removes) a default header: host, authorization, content-type, connection. */
  readonly set?: Record<string, string | null>;
  /** More header lines, sent as they are (repeats, odd case). */
  readonly extra?: readonly (readonly [string, string])[];
  readonly body?: string | Buffer;
  /** Sends the body chunked in pieces of this size (no content-length). */
  readonly chunked?: number;
  /** A Content-Length other than the body's. */
  readonly contentLength?: number;
  /** Sends only this many bytes of the body (the rest never comes). */
  readonly sendOnly?: number;
}

function headerLines(r: WireRequest): [string, string][] {
  const defaults: Record<string, string | null> = {
    host: 'localhost',
    authorization: `Bearer ${bot.key}`,
    'content-type': 'application/json',
    connection: 'close',
    ...r.set,
  };
  const lines = Object.entries(defaults).flatMap(([k, v]) =>
    v === null ? [] : [[k, v] as [string, string]],
  );
  return [...lines, ...(r.extra ?? []).map(([k, v]) => [k, v] as [string, string])];
}

function encode(r: WireRequest): Buffer {
  const whole = Buffer.from(r.body ?? '');
  const body = r.sendOnly === undefined ? whole : whole.subarray(0, r.sendOnly);
  const lines = headerLines(r);
  if (r.chunked !== undefined) lines.push(['transfer-encoding', 'chunked']);
  else lines.push(['content-length', String(r.contentLength ?? whole.length)]);
  const head = `${r.method ?? 'POST'} ${r.target ?? '/v1/transactions'} HTTP/${r.version ?? '1.1'}\r\n${lines
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  if (r.chunked === undefined) return Buffer.concat([Buffer.from(head, 'latin1'), body]);
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  for (let i = 0; i < body.length; i += r.chunked) {
    const piece = body.subarray(i, i + r.chunked);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

interface WireResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Every final response in `buf` (1xx skipped), in order. */
function parseResponses(buf: Buffer): WireResponse[] {
  const out: WireResponse[] = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const [statusLine, ...lines] = buf.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(statusLine!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      const k = line.slice(0, i).trim().toLowerCase();
      headers[k] = headers[k] === undefined ? line.slice(i + 1).trim() : `${headers[k]}, ${line}`;
    }
    at = end + 4;
    let body: Buffer;
    if (status < 200) {
      body = Buffer.alloc(0); // 100 Continue: no body
    } else if (headers['transfer-encoding'] === 'chunked') {
      const pieces: Buffer[] = [];
      for (;;) {
        const eol = buf.indexOf('\r\n', at);
        const size = parseInt(buf.subarray(at, eol).toString(), 16);
        at = eol + 2;
        if (size === 0) {
          at += 2;
          break;
        }
        pieces.push(buf.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(pieces);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = buf.subarray(at, at + n);
      at += n;
    } else {
      body = buf.subarray(at);
      at = buf.length;
    }
    if (status >= 200) out.push({ status, headers, body: body.toString('utf8') });
  }
  return out;
}

interface WireResult {
  readonly responses: WireResponse[];
  /** The connection ended in a reset (or an error) rather than a close. */
  readonly reset: boolean;
}

/** Writes `bytes` and reads until the server closes the connection. */
function exchange(port: number, bytes: Buffer | readonly Buffer[]): Promise<WireResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let reset = false;
    const socket = connect(port, '127.0.0.1', () => {
      for (const b of Array.isArray(bytes) ? bytes : [bytes]) socket.write(b);
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server neither answered nor closed in 10 s'));
    }, 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => (reset = true));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ responses: parseResponses(Buffer.concat(chunks)), reset });
    });
  });
}

// ---- normalising answers, log lines and metrics ----

const JTI = /^[A-Za-z0-9_-]{22}$/;

interface Seen {
  readonly status: number;
  readonly headers: Record<string, string | undefined>;
  readonly body: unknown;
}

/** The parts of an answer that must be equal on every path (random ids replaced). */
function normalise(status: number, header: (n: string) => string | undefined, text: string): Seen {
  const requestId = header('x-request-id');
  let body: unknown = text;
  if (text !== '') {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    if (parsed.requestId !== undefined) {
      expect(parsed.requestId).toBe(requestId);
      parsed.requestId = '<requestId>';
    }
    if (typeof parsed.jti === 'string') parsed.jti = JTI.test(parsed.jti) ? '<jti>' : parsed.jti;
    if (typeof parsed.messageId === 'string') parsed.messageId = '<messageId>';
    body = parsed;
  }
  const names = [
    'content-type',
    'idempotent-replayed',
    'www-authenticate',
    'allow',
    'cache-control',
  ];
  return {
    status,
    headers: {
      ...Object.fromEntries(names.map((n) => [n, header(n)])),
      // Offered ids come back; others are replaced by a fresh UUID.
      'x-request-id':
        requestId === undefined
          ? undefined
          : /^[0-9a-f-]{36}$/.test(requestId)
            ? '<fresh>'
            : requestId,
    },
    body,
  };
}

const fromWire = (r: WireResponse) => normalise(r.status, (n) => r.headers[n], r.body);

const VOLATILE = new Set(['time', 'pid', 'hostname', 'reqId', 'ms', 'stack']);
function logLinesSince(r: Rig, from: number): unknown[] {
  return r.logs.slice(from).map((line) =>
    Object.fromEntries(
      Object.entries(line)
        .filter(([k]) => !VOLATILE.has(k))
        .map(([k, v]) => [k, k === 'jti' ? '<jti>' : v]),
    ),
  );
}

/** Waits until `r` logged its 'request' line for `n` requests (the lane logs after writing). */
async function requestLines(r: Rig, from: number, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (r.logs.slice(from).filter((l) => l.msg === 'request').length < n) {
    if (Date.now() > deadline) return; // the comparison that follows says what is missing
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

// ---- the table ----

interface Case {
  readonly name: string;
  readonly request: WireRequest;
  /** What every path answers (the statuses of a pipelined exchange, in order). */
  readonly expect: number | readonly number[] | 'reset';
  /** The same request through app.request (only when a fetch Request can carry it). */
  readonly inProcess?: boolean;
  /** Sent as this many pipelined copies on one connection (the last one closes it). */
  readonly pipelined?: number;
}

const key = (k = bot.key) => ({ authorization: `Bearer ${k}` });
const bigNumberBody = `{"account":"acct-1","txn":${JSON.stringify({ ...SAMPLE_TXN }).replace(
  '"0.015"',
  '1e400',
)}}`;
const invalidUtf8 = Buffer.concat([
  Buffer.from('{"account":"acct-1","txn":{"type":"order","side":"buy","symbol":"BTC-'),
  Buffer.from([0xc3, 0x28, 0xff]),
  Buffer.from('","quantity":"0.015","limitPrice":"64000.10","timeInForce":"GTC"}}'),
]);

const CASES: readonly Case[] = [
  { name: 'success, unkeyed', request: { body: BODY }, expect: 202, inProcess: true },
  {
    name: 'success, keyed',
    request: { body: BODY, set: { 'idempotency-key': 'k-1' } },
    expect: 202,
    inProcess: true,
  },
  {
    name: 'replay of the keyed request',
    request: { body: BODY, set: { 'idempotency-key': 'k-1' } },
    expect: 202,
    inProcess: true,
  },
  {
    name: 'replay with the same body written differently (canonical JSON)',
    request: {
      body: JSON.stringify({ txn: SAMPLE_TXN, account: 'acct-1' }),
      set: { 'idempotency-key': 'k-1' },
    },
    expect: 202,
    inProcess: true,
  },
  {
    name: 'the key again with another body: conflict',
    request: { body: OTHER_BODY, set: { 'idempotency-key': 'k-1' } },
    expect: 409,
    inProcess: true,
  },
  {
    name: 'the same key under another API key is another record',
    request: {
      body: JSON.stringify({ account: 'acct-9', txn: SAMPLE_TXN }),
      set: { 'idempotency-key': 'k-1', ...key(other.key) },
    },
    expect: 202,
    inProcess: true,
  },
  {
    name: 'no Authorization',
    request: { body: BODY, set: { authorization: null } },
    expect: 401,
    inProcess: true,
  },
  {
    name: 'unknown key',
    request: { body: BODY, set: key(`${bot.key}x`) },
    expect: 401,
    inProcess: true,
  },
  {
    name: 'lower-case scheme, extra spaces',
    request: { body: BODY, set: { authorization: `bearer   ${bot.key}  ` } },
    expect: 202,
    inProcess: true,
  },
  {
    name: 'Basic scheme',
    request: { body: BODY, set: { authorization: `Basic ${bot.key}` } },
    expect: 401,
    inProcess: true,
  },
  {
    name: 'no key after the scheme',
    request: { body: BODY, set: { authorization: 'Bearer' } },
    expect: 401,
    inProcess: true,
  },
  {
    name: 'a key of 4,000 characters',
    request: { body: BODY, set: key('k'.repeat(4000)) },
    expect: 401,
    inProcess: true,
  },
  {
    name: "another account's key: 403",
    request: { body: BODY, set: key(other.key) },
    expect: 403,
    inProcess: true,
  },
  {
    name: 'Authorization in odd case',
    request: {
      body: BODY,
      set: { authorization: null },
      extra: [['AuThOrIzAtIoN', `Bearer ${bot.key}`]],
    },
    expect: 202,
    inProcess: true,
  },
  {
    name: 'Authorization twice, both valid',
    request: { body: BODY, extra: [['authorization', `Bearer ${bot.key}`]] },
    expect: 401,
  },
  {
    name: 'Authorization twice: unknown first, valid second',
    request: {
      body: BODY,
      set: key('nope'),
      extra: [['Authorization', `Bearer ${bot.key}`]],
    },
    expect: 401,
  },
  {
    name: "Authorization twice: valid, then another account's",
    request: { body: BODY, extra: [['authorization', `Bearer ${other.key}`]] },
    expect: 401,
  },
  {
    name: 'no content-type',
    request: { body: BODY, set: { 'content-type': null } },
    expect: 415,
    inProcess: true,
  },
  {
    name: 'no content-type, an empty body',
    request: { body: '', set: { 'content-type': null } },
    expect: 422,
    inProcess: true,
  },
  {
    name: 'no content-type, a bad Idempotency-Key: the header is judged first',
    request: { body: BODY, set: { 'content-type': null, 'idempotency-key': 'a b' } },
    expect: 422,
    inProcess: true,
  },
  {
    name: 'text/plain',
    request: { body: BODY, set: { 'content-type': 'text/plain' } },
    expect: 415,
    inProcess: true,
  },
  ...[
    ['application/json; charset=utf-8', 202],
    ['APPLICATION/JSON', 202],
    ['application/merge-patch+json', 202],
    ['application/json; a=b; c="d"', 202],
    ['application/json;', 415],
    ['application/json ; charset=utf-8', 415],
    ['application/json; charset', 415],
    ['application/x_y+json', 415],
    ['application/v1+json', 415],
    ['application/jsonx', 415],
    ['application/json, text/plain', 415],
  ].map(([type, status]): Case => ({
    name: `content-type ${type}`,
    request: { body: BODY, set: { 'content-type': type as string } },
    expect: status as number,
    inProcess: true,
  })),
  {
    name: 'content-type twice',
    request: { body: BODY, extra: [['content-type', 'application/json']] },
    expect: 415,
  },
  { name: 'malformed JSON', request: { body: '{"account":' }, expect: 422, inProcess: true },
  { name: 'empty body', request: { body: '' }, expect: 422, inProcess: true },
  { name: 'JSON null', request: { body: 'null' }, expect: 422, inProcess: true },
  {
    name: 'a field of the wrong shape',
    request: { body: JSON.stringify({ account: 'acct-1', txn: { ...SAMPLE_TXN, side: 'hold' } }) },
    expect: 422,
    inProcess: true,
  },
  {
    name: '__proto__ at the top',
    request: { body: `{"__proto__":{"account":"acct-9"},${BODY.slice(1)}` },
    expect: 422,
    inProcess: true,
  },
  {
    name: '__proto__ inside txn',
    request: { body: BODY.replace('{"type"', '{"__proto__":{"x":1},"type"') },
    expect: 422,
    inProcess: true,
  },
  {
    name: 'duplicate keys: the last one counts (acct-9 then acct-1)',
    request: { body: `{"account":"acct-9",${BODY.slice(1)}` },
    expect: 202,
    inProcess: true,
  },
  {
    name: 'duplicate keys: the last one counts (acct-1 then acct-9)',
    request: { body: `${BODY.slice(0, -1)},"account":"acct-9"}` },
    expect: 403,
    inProcess: true,
  },
  { name: 'a huge number', request: { body: bigNumberBody }, expect: 422, inProcess: true },
  { name: 'invalid UTF-8', request: { body: invalidUtf8 }, expect: 422, inProcess: true },
  {
    name: 'over the limit by content-length',
    request: { body: 'x'.repeat(MAX_BODY + 1) },
    expect: 413,
    inProcess: true,
  },
  {
    name: 'over the limit by content-length, no key',
    request: { body: 'x'.repeat(MAX_BODY + 1), set: { authorization: null } },
    expect: 401,
    inProcess: true,
  },
  {
    name: 'a chunked body',
    request: { body: BODY, chunked: 7 },
    expect: 202,
  },
  {
    name: 'over the limit by the bytes read (chunked), no key: 401 as before',
    request: { body: 'x'.repeat(MAX_BODY * 2), chunked: 512, set: { authorization: null } },
    expect: 401,
  },
  {
    name: 'over the limit by the bytes read (chunked)',
    request: { body: 'x'.repeat(MAX_BODY * 2), chunked: 512 },
    expect: 413,
  },
  {
    name: 'no key, and the body never finishes: 401 at once',
    request: { body: BODY, sendOnly: 10, set: { authorization: null } },
    expect: 401,
  },
  {
    name: 'Idempotency-Key with a space',
    request: { body: BODY, set: { 'idempotency-key': 'a b' } },
    expect: 422,
    inProcess: true,
  },
  {
    name: 'Idempotency-Key of 256 characters',
    request: { body: BODY, set: { 'idempotency-key': 'k'.repeat(256) } },
    expect: 422,
    inProcess: true,
  },
  {
    name: 'Idempotency-Key twice',
    request: {
      body: BODY,
      extra: [
        ['idempotency-key', 'k-2'],
        ['idempotency-key', 'k-2'],
      ],
    },
    expect: 422,
  },
  {
    name: 'X-Request-Id offered',
    request: { body: BODY, set: { 'x-request-id': 'req-abc.1:2' } },
    expect: 202,
    inProcess: true,
  },
  {
    name: 'X-Request-Id not valid: a fresh one',
    request: { body: BODY, set: { 'x-request-id': 'no spaces allowed' } },
    expect: 202,
    inProcess: true,
  },
  {
    name: 'X-Request-Id twice',
    request: {
      body: BODY,
      extra: [
        ['x-request-id', 'a'],
        ['x-request-id', 'b'],
      ],
    },
    expect: 202,
  },
  {
    name: 'a query string',
    request: { body: BODY, target: '/v1/transactions?x=1' },
    expect: 202,
    inProcess: true,
  },
  { name: 'a trailing slash', request: { body: BODY, target: '/v1/transactions/' }, expect: 404 },
  { name: 'a double slash', request: { body: BODY, target: '//v1/transactions' }, expect: 404 },
  { name: 'upper case', request: { body: BODY, target: '/V1/TRANSACTIONS' }, expect: 404 },
  {
    name: 'percent-encoded',
    request: { body: BODY, target: '/v1/%74ransactions' },
    expect: 202,
  },
  {
    name: 'dot segments',
    request: { body: BODY, target: '/v1/x/../transactions' },
    expect: 202,
  },
  {
    name: 'absolute-form',
    request: { body: BODY, target: 'http://localhost/v1/transactions' },
    expect: 202,
  },
  { name: 'PUT', request: { body: BODY, method: 'PUT' }, expect: 405, inProcess: true },
  { name: 'HTTP/1.0', request: { body: BODY, version: '1.0' }, expect: 202 },
  {
    name: 'HTTP/1.0 without Host',
    request: { body: BODY, version: '1.0', set: { host: null } },
    expect: 202,
  },
  { name: 'Host with userinfo', request: { body: BODY, set: { host: 'a@b' } }, expect: 400 },
  {
    name: 'Host with a bad port',
    request: { body: BODY, set: { host: 'localhost:99999' } },
    expect: 400,
  },
  { name: 'Host with a space', request: { body: BODY, set: { host: 'local host' } }, expect: 400 },
  { name: 'Host in upper case', request: { body: BODY, set: { host: 'LOCALHOST' } }, expect: 202 },
  { name: 'Host IPv6', request: { body: BODY, set: { host: '[::1]:8080' } }, expect: 202 },
  {
    name: 'Expect: 100-continue',
    request: { body: BODY, set: { expect: '100-continue' } },
    expect: 202,
  },
  {
    name: 'three pipelined requests on one connection',
    request: { body: BODY },
    pipelined: 3,
    expect: [202, 202, 202],
  },
];

interface Observed {
  readonly answers: 'reset' | Seen[];
  readonly logs: unknown[];
  readonly refusals: string[];
}

describe('the lane answers exactly as the app would (one table, three paths)', () => {
  let inProcess: Rig;
  let lane: Rig;
  let appOnly: Rig;
  let laneServer: RunningServer;
  let appServer: { port: number; close(): Promise<void> };

  beforeAll(async () => {
    [inProcess, lane, appOnly] = [rig(), rig(), rig()];
    laneServer = await startHttpServer(lane.app, { host: '127.0.0.1', port: 0 });
    appServer = await startAppOnly(appOnly.app);
  });
  afterAll(async () => {
    await laneServer.close();
    await appServer.close();
    for (const r of [inProcess, lane, appOnly]) await r.close();
  });

  async function over(r: Rig, port: number, c: Case): Promise<Observed> {
    const from = r.logs.length;
    const refusalsFrom = r.refusals.length;
    const copies = c.pipelined ?? 1;
    const bytes = Array.from({ length: copies }, (_, i) =>
      encode(
        i === copies - 1
          ? c.request
          : { ...c.request, set: { ...c.request.set, connection: 'keep-alive' } },
      ),
    );
    const result = await exchange(port, Buffer.concat(bytes));
    const framed = result.responses.filter((x) => x.headers['x-request-id'] !== undefined).length;
    await requestLines(r, from, framed);
    return {
      answers:
        result.reset && result.responses.length === 0 ? 'reset' : result.responses.map(fromWire),
      logs: logLinesSince(r, from),
      refusals: r.refusals.slice(refusalsFrom),
    };
  }

  for (const c of CASES) {
    it(c.name, async () => {
      const viaLane = await over(lane, laneServer.port, c);
      const viaApp = await over(appOnly, appServer.port, c);
      expect(viaLane).toEqual(viaApp);
      const statuses = viaLane.answers === 'reset' ? 'reset' : viaLane.answers.map((a) => a.status);
      expect(statuses).toEqual(typeof c.expect === 'number' ? [c.expect] : c.expect);
      if (c.inProcess) {
        const from = inProcess.logs.length;
        const refusalsFrom = inProcess.refusals.length;
        const lines = headerLines(c.request).filter(([k]) => !['host', 'connection'].includes(k));
        const res = await inProcess.app.request(c.request.target ?? '/v1/transactions', {
          method: c.request.method ?? 'POST',
          headers: lines,
          // Bytes: a string body would get a text/plain content-type from fetch.
          body: new Uint8Array(Buffer.from(c.request.body ?? '')),
        });
        const seen = normalise(
          res.status,
          (n) => res.headers.get(n) ?? undefined,
          await res.text(),
        );
        expect(seen).toEqual((viaLane.answers as Seen[])[0]);
        expect({
          logs: logLinesSince(inProcess, from),
          refusals: inProcess.refusals.slice(refusalsFrom),
        }).toEqual({ logs: viaLane.logs, refusals: viaLane.refusals });
      }
    });
  }

  it('every accepted order went on the queue once per path', async () => {
    const count = async (r: Rig) => {
      let n = 0;
      for (;;) {
        const got = await r.queue.receive({ max: 10, waitMs: 0 });
        if (got.length === 0) return n;
        n += got.length;
        for (const m of got) await r.queue.delete(m.receiptHandle);
      }
    };
    const [l, a] = [await count(lane), await count(appOnly)];
    expect(l).toBe(a);
    expect(l).toBeGreaterThan(10);
  });
});

// ---- failure paths ----

/** A signer that waits at `sign` until released (and says when a signature was asked for). */
function heldSigner() {
  let release!: () => void;
  let asked!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const signing = new Promise<void>((r) => (asked = r));
  const wrap = (s: Signer): Signer => ({
    alg: s.alg,
    kid: s.kid,
    publicJwk: s.publicJwk,
    sign: async (input) => {
      asked();
      await released;
      return s.sign(input);
    },
  });
  return { wrap, signing, release };
}

async function drain(q: SqliteQueue): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const got = await q.receive({ max: 10, waitMs: 0 });
    if (got.length === 0) return bodies;
    for (const m of got) {
      bodies.push(m.body);
      await q.delete(m.receiptHandle);
    }
  }
}
const jtiOfToken = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;

describe('the lane when things fail', () => {
  it('a client gone while its order is signed: sent once, answered to no one, never retried by the app', async () => {
    const held = heldSigner();
    const r = rig({ signer: held.wrap });
    const server = await startHttpServer(r.app, { host: '127.0.0.1', port: 0 });
    try {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(encode({ body: BODY, set: { 'idempotency-key': 'gone-1' } }));
      await held.signing;
      socket.destroy();
      await new Promise((resolve) => socket.once('close', resolve));
      held.release();
      await requestLines(r, 0, 1);

      const sent = await drain(r.queue);
      expect(sent).toHaveLength(1);
      const lines = r.logs.filter((l) => l.msg === 'request');
      expect(lines).toEqual([expect.objectContaining({ status: 202, apiKey: 'bot-a' })]);

      // The retry replays the recorded answer: the same jti, nothing sent again.
      const retry = await exchange(
        server.port,
        encode({ body: BODY, set: { 'idempotency-key': 'gone-1' } }),
      );
      expect(retry.responses[0]!.headers['idempotent-replayed']).toBe('true');
      expect((JSON.parse(retry.responses[0]!.body) as { jti: string }).jti).toBe(
        jtiOfToken(sent[0]!),
      );
      expect(await drain(r.queue)).toEqual([]);
    } finally {
      await server.close();
      await r.close();
    }
  });

  it('startHttpServer answers a valid submit without the app, and a refusal with it', async () => {
    const r = rig();
    let appCalls = 0;
    const fetch = r.app.fetch;
    r.app.fetch = (...args) => (appCalls++, fetch(...args));
    const server = await startHttpServer(r.app, { host: '127.0.0.1', port: 0 });
    try {
      expect((await exchange(server.port, encode({ body: BODY }))).responses[0]!.status).toBe(202);
      expect(appCalls).toBe(0);
      const refused = await exchange(server.port, encode({ body: BODY, set: key(other.key) }));
      expect(refused.responses[0]!.status).toBe(403); // the lane's too: the key is known
      expect(appCalls).toBe(0);
      const unknown = await exchange(server.port, encode({ body: BODY, set: key('nope') }));
      expect(unknown.responses[0]!.status).toBe(401);
      expect(appCalls).toBe(1);
    } finally {
      await server.close();
      await r.close();
    }
  });

  it('a server closed with a request in flight: close() returns, the order is sent once', async () => {
    const held = heldSigner();
    const r = rig({ signer: held.wrap });
    const server = await startHttpServer(r.app, { host: '127.0.0.1', port: 0 });
    const answer = exchange(server.port, encode({ body: BODY }));
    await held.signing;
    await server.close();
    held.release();
    expect((await answer).responses).toEqual([]); // the connection went with the server
    await requestLines(r, 0, 1);
    expect(await drain(r.queue)).toHaveLength(1);
    expect(r.logs.filter((l) => l.msg === 'request')).toHaveLength(1);
    await r.close();
  });

  const failing: [string, RigOptions, WireRequest, number][] = [
    [
      'the queue is down',
      { queue: (q) => ({ ...q, send: () => Promise.reject(queueError('queue down')) }) },
      { body: BODY },
      503,
    ],
    [
      'the idempotency store throws',
      {
        idempotency: (s) => ({ ...s, begin: () => Promise.reject(new Error('store exploded')) }),
      },
      { body: BODY, set: { 'idempotency-key': 'f-1' } },
      500,
    ],
    ['the client aborts in the middle of the body', {}, { body: BODY, sendOnly: 20 }, 0],
  ];
  for (const [name, options, request, status] of failing) {
    it(`${name}: the same answer, log lines and metric on both paths`, async () => {
      const [a, b] = [rig(options), rig(options)];
      const laneServer = await startHttpServer(a.app, { host: '127.0.0.1', port: 0 });
      const appServer = await startAppOnly(b.app);
      try {
        const run = async (r: Rig, port: number): Promise<Observed> => {
          let answers: Seen[];
          if (status === 0) {
            // The request is in (100 Continue), part of the body, then the client is gone: the
            // app's body read fails (500, logged, answered to no one).
            const socket = connect(port, '127.0.0.1');
            socket.on('error', () => undefined);
            const continued = new Promise((resolve) => socket.once('data', resolve));
            socket.write(encode({ ...request, set: { expect: '100-continue' }, sendOnly: 0 }));
            await continued;
            socket.write(BODY.slice(0, 20));
            socket.destroy();
            answers = [];
          } else {
            answers = (await exchange(port, encode(request))).responses.map(fromWire);
          }
          await requestLines(r, 0, 1);
          return { answers, logs: logLinesSince(r, 0), refusals: r.refusals };
        };
        const viaLane = await run(a, laneServer.port);
        const viaApp = await run(b, appServer.port);
        expect(viaLane).toEqual(viaApp);
        const statuses = (viaLane.answers as Seen[]).map((x) => x.status);
        expect(statuses).toEqual(status === 0 ? [] : [status]);
        expect(viaLane.logs).toContainEqual(expect.objectContaining({ msg: 'request failed' }));
        expect(await drain(a.queue)).toEqual([]);
      } finally {
        await laneServer.close();
        await appServer.close();
        await a.close();
        await b.close();
      }
    });
  }
});
