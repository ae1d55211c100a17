// A local exchange that speaks exchange-api.ts over HTTP (`countersign exchange-sim`, the demo's
// `--exchange sim`, the exactly-once tests and the bench). Orders persist in SQLite; faults come
// from keyed rules or seeded rates (sim-faults.ts); latency, fill ratio, a rate limit and a kill
// switch are settings. Admin calls (/admin/...) are signed like every other call.
//
// One request: read body (≤ 16 KB) → authenticate (sim-auth.ts) → route → rate limit → latency
// → fault before → the exchange (sim-engine.ts) → fault after → answer.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { errorCodeOf, systemClock, type Clock } from '@countersign/contracts';
import type { ExchangeCredentials } from '../credentials/exchange-credentials.ts';
import { GatewayError } from '../errors.ts';
import { ApiErrorCodes, CLIENT_ORDER_ID, ExchangePaths, type ApiOrder } from '../exchange-api.ts';
import { realSleep, type Sleep } from '../http-exchange-client.ts';
import { silentLogger, type Logger } from '../ports.ts';
import { authenticate } from './sim-auth.ts';
import {
  apiError,
  createSimEngine,
  type Reply,
  type SimBehaviour,
  type SimStats,
} from './sim-engine.ts';
import {
  createFaultPlan,
  SimOps,
  type FaultRates,
  type SimFault,
  type SimFaultRule,
  type SimOp,
} from './sim-faults.ts';
import { openSimOrderStore } from './sim-orders.ts';

export interface SimulatorOptions {
  /** The API keys this exchange issued (each with its secret). */
  readonly credentials: readonly ExchangeCredentials[];
  readonly host?: string;
  /** 0 = any free port. */
  readonly port?: number;
  /** SQLite file of the orders; in memory when absent. */
  readonly dbPath?: string;
  readonly clock?: Clock;
  readonly behaviour?: Partial<SimBehaviour>;
  readonly faults?: { readonly seed?: number; readonly rates?: Partial<FaultRates> };
  /** Longest receive window accepted. Default 60 s. */
  readonly maxRecvWindowMs?: number;
  readonly sleep?: Sleep;
  readonly logger?: Logger;
}

export interface ExchangeSimulator {
  /** `http://host:port` */
  readonly url: string;
  inject(rule: SimFaultRule): void;
  clearFaults(): void;
  setRates(rates: Partial<FaultRates>): void;
  configure(next: Partial<SimBehaviour>): Promise<void>;
  behaviour(): SimBehaviour;
  /** Every stored order, oldest first. */
  orders(): ApiOrder[];
  /** Orders the gateway would receipt as EXECUTED. */
  executions(): number;
  stats(): Readonly<SimStats>;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 16 * 1024;
const BY_CLIENT_ID = '/api/v1/orders/by-client-id/';

// Admin bodies: the same fault rules as inject(), minus `hold` (a promise cannot travel).
const AdminFault = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('error'),
    when: z.enum(['before', 'after']),
    status: z.number().int().min(500).max(599).optional(),
  }),
  z.strictObject({ kind: z.literal('reset'), when: z.enum(['before', 'after']) }),
  z.strictObject({ kind: z.literal('timeout'), when: z.enum(['before', 'after']) }),
  z.strictObject({ kind: z.literal('rate-limit'), retryAfterSec: z.number().int().min(0).max(60) }),
]);
const AdminFaultRule = z.strictObject({
  op: z.enum(SimOps).optional(),
  clientOrderId: z.string().regex(CLIENT_ORDER_ID).optional(),
  times: z.number().int().min(1).max(1_000_000).optional(),
  fault: AdminFault,
});
const Rate = z.number().min(0).max(1);
const AdminSettings = z.strictObject({
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  fillRatio: Rate.optional(),
  rateLimitPerSec: z.number().min(0).max(1_000_000).optional(),
  killSwitch: z.boolean().optional(),
  errorRate: Rate.optional(),
  resetRate: Rate.optional(),
  timeoutRate: Rate.optional(),
});

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(
          new GatewayError('PAYLOAD_TOO_LARGE', `a request body over ${MAX_BODY_BYTES} bytes`),
        );
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...(text ? { 'content-type': 'application/json' } : {}),
    'content-length': Buffer.byteLength(text),
    ...reply.headers,
  });
  res.end(text);
}

/** Waits until the client gives up (the connection closes); the request is never answered. */
function untilClientGone(req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (req.socket.destroyed) return resolve();
    res.once('close', () => resolve());
  });
}

function resetConnection(req: IncomingMessage): void {
  req.socket.resetAndDestroy();
}

interface Route {
  readonly op: SimOp | 'admin';
  readonly clientOrderId?: string;
}

function route(method: string, pathname: string, body: string): Route | Reply {
  if (pathname === ExchangePaths.ORDERS) {
    if (method === 'POST') {
      // The id is read here only to key faults; the engine validates the body.
      let id: unknown;
      try {
        id = (JSON.parse(body) as { clientOrderId?: unknown } | null)?.clientOrderId;
      } catch {
        return apiError(400, ApiErrorCodes.INVALID_REQUEST, 'body is not JSON');
      }
      return { op: 'place', ...(typeof id === 'string' ? { clientOrderId: id } : {}) };
    }
    if (method === 'GET') return { op: 'list' };
  }
  if (pathname.startsWith(BY_CLIENT_ID) && (method === 'GET' || method === 'DELETE')) {
    let id: string;
    try {
      id = decodeURIComponent(pathname.slice(BY_CLIENT_ID.length));
    } catch {
      id = '';
    }
    if (!CLIENT_ORDER_ID.test(id))
      return apiError(400, ApiErrorCodes.INVALID_REQUEST, 'bad client order id');
    return { op: method === 'GET' ? 'get' : 'cancel', clientOrderId: id };
  }
  if (pathname.startsWith('/admin/')) return { op: 'admin' };
  return apiError(404, ApiErrorCodes.INVALID_REQUEST, 'no such endpoint');
}

export async function startExchangeSimulator(
  options: SimulatorOptions,
): Promise<ExchangeSimulator> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const sleep = options.sleep ?? realSleep;
  const secrets = new Map(options.credentials.map((c) => [c.apiKey, c.secret]));
  const store = openSimOrderStore(options.dbPath);
  const engine = createSimEngine({
    store,
    clock,
    ...(options.behaviour ? { behaviour: options.behaviour } : {}),
  });
  const faults = createFaultPlan(options.faults ?? {});
  const maxRecvWindowMs = options.maxRecvWindowMs ?? 60_000;

  async function admin(method: string, pathname: string, body: string): Promise<Reply> {
    const json = (): unknown => {
      try {
        return JSON.parse(body) as unknown;
      } catch {
        return undefined;
      }
    };
    if (pathname === '/admin/faults' && method === 'POST') {
      const rule = AdminFaultRule.safeParse(json());
      if (!rule.success)
        return apiError(400, ApiErrorCodes.INVALID_REQUEST, rule.error.issues[0]?.message);
      faults.add(rule.data);
      return { status: 204 };
    }
    if (pathname === '/admin/faults' && method === 'DELETE') {
      faults.clear();
      return { status: 204 };
    }
    if (pathname === '/admin/settings' && method === 'POST') {
      const s = AdminSettings.safeParse(json());
      if (!s.success)
        return apiError(400, ApiErrorCodes.INVALID_REQUEST, s.error.issues[0]?.message);
      const { errorRate, resetRate, timeoutRate, ...behaviour } = s.data;
      faults.setRates({
        ...(errorRate === undefined ? {} : { errorRate }),
        ...(resetRate === undefined ? {} : { resetRate }),
        ...(timeoutRate === undefined ? {} : { timeoutRate }),
      });
      await engine.configure(behaviour);
      return { status: 200, body: { ...engine.behaviour(), ...faults.rates() } };
    }
    if (pathname === '/admin/stats' && method === 'GET') {
      return {
        status: 200,
        body: {
          ...engine.stats,
          executions: store.executions(),
          ...engine.behaviour(),
          ...faults.rates(),
        },
      };
    }
    return apiError(404, ApiErrorCodes.INVALID_REQUEST, 'no such admin endpoint');
  }

  async function operate(
    op: SimOp,
    apiKey: string,
    id: string | undefined,
    body: string,
    query: URLSearchParams,
  ): Promise<Reply> {
    switch (op) {
      case 'place': {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body) as unknown;
        } catch {
          return apiError(400, ApiErrorCodes.INVALID_REQUEST, 'body is not JSON');
        }
        return engine.place(apiKey, parsed);
      }
      case 'get':
        return engine.get(apiKey, id ?? '');
      case 'cancel':
        return engine.cancel(apiKey, id ?? '');
      case 'list':
        return engine.list(apiKey, query);
    }
  }

  /** Applies a fault; true when the request is finished (no normal answer follows). */
  async function strike(
    fault: SimFault,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<boolean> {
    switch (fault.kind) {
      case 'error':
        send(res, apiError(fault.status ?? 503, ApiErrorCodes.UNAVAILABLE, 'injected failure'));
        return true;
      case 'reset':
        resetConnection(req);
        return true;
      case 'timeout':
        await untilClientGone(req, res);
        return true;
      case 'rate-limit':
        send(res, {
          ...apiError(429, ApiErrorCodes.RATE_LIMITED, 'injected rate limit'),
          headers: { 'retry-after': String(fault.retryAfterSec) },
        });
        return true;
      case 'hold':
        await fault.until;
        return false;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    engine.stats.requests += 1;
    const method = req.method ?? 'GET';
    const pathWithQuery = req.url ?? '/';
    const url = new URL(pathWithQuery, 'http://exchange-sim');
    let body: string;
    try {
      body = await readBody(req);
    } catch (err) {
      if (errorCodeOf(err) === 'PAYLOAD_TOO_LARGE')
        return send(res, apiError(413, ApiErrorCodes.INVALID_REQUEST, 'body too large'));
      throw err;
    }
    if (url.pathname === ExchangePaths.TIME && method === 'GET') {
      return send(res, { status: 200, body: { serverTime: clock.now() } });
    }
    const auth = authenticate({
      headers: req.headers,
      method,
      pathWithQuery,
      body,
      now: clock.now(),
      maxRecvWindowMs,
      futureToleranceMs: 1000,
      secretOf: (key) => secrets.get(key),
    });
    if (!auth.ok) {
      engine.stats.authRejected += 1;
      return send(res, apiError(401, auth.code, auth.message));
    }
    const target = route(method, url.pathname, body);
    if ('status' in target) return send(res, target);
    if (target.op === 'admin') return send(res, await admin(method, url.pathname, body));
    const limited = engine.admit(auth.apiKey);
    if (limited) return send(res, limited);
    const latency = engine.behaviour().latencyMs;
    if (latency > 0) await sleep(latency);
    const fault = faults.next(target.op, target.clientOrderId);
    if (fault) {
      engine.stats.faults += 1;
      logger.debug(
        { op: target.op, clientOrderId: target.clientOrderId, fault: fault.kind },
        'injected fault',
      );
    }
    const whenOf = (f: SimFault) => ('when' in f ? f.when : 'before');
    if (fault && whenOf(fault) === 'before' && (await strike(fault, req, res))) return;
    const reply = await operate(
      target.op,
      auth.apiKey,
      target.clientOrderId,
      body,
      url.searchParams,
    );
    if (fault && whenOf(fault) === 'after' && (await strike(fault, req, res))) return;
    send(res, reply);
  }

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, 'exchange simulator failed a request');
      send(res, apiError(500, ApiErrorCodes.INTERNAL, 'internal error'));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    inject: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    setRates: (rates) => faults.setRates(rates),
    configure: (next) => engine.configure(next),
    behaviour: () => engine.behaviour(),
    orders: () => store.all(),
    executions: () => store.executions(),
    stats: () => ({ ...engine.stats }),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      store.close();
    },
  };
}
