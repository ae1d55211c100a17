// Same-work floor of the gateway (DESIGN.md §8a): a plain implementation of the mandatory work
// per message, with no project code, to measure the project's gateway against.
//
// Per message: receive mark → ES256 verify (thread pool) + claims check → nonce claim → exchange
// order → ES256 receipt sign (thread pool, serialized per stream: each receipt names its
// predecessor's hash) → nonce complete + chain head → bus insert → queue delete. `concurrency`
// messages in flight, FIFO per group (as SQS FIFO: a group with nothing in flight delivers
// several messages at once; they are verified together and claimed and placed in send order).
//
// Durable writes, each the minimum the design requires, and why:
// - queue receive mark (queue.sqlite: receive_count, visible_at): the visibility timeout and the
//   DLQ's receive count must survive a crash;
// - nonce claim (nonces.sqlite: key, state, owner, lease, expiry, request sha256, claimed_at)
//   committed BEFORE the order is placed: exactly once across crashes and redeliveries;
// - exchange order (exchange.sqlite, keyed by client order id) committed before the receipt;
// - nonce complete + chain head (nonces.sqlite, one transaction): the receipt is stored with the
//   head advance so a seq is never handed out twice; it keeps the receipt and the message id,
//   NOT a copy of the request token (a redelivery carries the token; the archive keeps it);
// - bus insert (bus.sqlite: receipt + request, indexed by time for replays) committed BEFORE the
//   queue delete: nothing is lost;
// - queue delete.
// Group commit per event-loop turn, cascaded in the required order: in one turn, the nonce file
// commits (claims and completes), then the exchange file (orders of the claims just committed),
// then the bus (events of the completes just committed), then the queue (their deletes and the
// next receive marks). Not written: the nonce expiry index is kept (records must be purged);
// nothing else (no dedup log, no savepoints, no PRAGMA per group, no order-listing index).
import { createHash, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import {
  b64u,
  newId,
  openFloorDb,
  percentileOf,
  requestClaimsOk,
  sha256,
  signEs256,
  streamOfAccount,
  verifyEs256,
  type Db,
  type RequestFields,
} from './base.ts';

export const QUEUE_SCHEMA = `
CREATE TABLE IF NOT EXISTS q (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id TEXT NOT NULL,
  body TEXT NOT NULL,
  sent_at INTEGER NOT NULL,
  visible_at INTEGER NOT NULL,
  receive_count INTEGER NOT NULL DEFAULT 0
);`;

const NONCE_SCHEMA = `
CREATE TABLE IF NOT EXISTS nonces (
  key TEXT PRIMARY KEY, state TEXT NOT NULL, owner TEXT, lease_until INTEGER,
  expires_at INTEGER NOT NULL, request_sha256 TEXT, claimed_at INTEGER,
  receipt TEXT, message_id TEXT
);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at);
CREATE TABLE IF NOT EXISTS chain_heads (stream TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);`;

const EXCHANGE_SCHEMA = `
CREATE TABLE IF NOT EXISTS orders (
  client_order_id TEXT PRIMARY KEY, account TEXT NOT NULL, txn TEXT NOT NULL,
  result TEXT NOT NULL, placed_at INTEGER NOT NULL
);`;

export const BUS_SCHEMA = `
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events (time);`;

export interface GatewayFloorOptions {
  readonly dir: string;
  readonly gatewayId: string;
  readonly requesterKey: KeyObject;
  readonly gatewayKey: KeyObject;
  readonly partitions: number;
  readonly concurrency: number;
  /** Called for each message whose event is committed (latency, counting). */
  readonly onDone?: (latencyMs: number) => void;
}

interface Msg {
  readonly seq: number;
  readonly group: string;
  readonly token: string;
  readonly t0: number;
  verified?: boolean;
  claims?: RequestFields;
  sha?: string;
  receipt?: string;
  stream?: string;
  head?: { seq: number; hash: string };
}

export interface GatewayFloor {
  /** Starts receiving (and keeps polling every `pollMs` while `open`). */
  start(): void;
  /** Resolves when the queue is empty and nothing is in flight (stops polling). */
  drained(): Promise<void>;
  readonly done: number;
  close(): void;
}

export function createGatewayFloor(o: GatewayFloorOptions): GatewayFloor {
  const queueDb = openFloorDb(join(o.dir, 'queue.sqlite'), QUEUE_SCHEMA);
  const nonceDb = openFloorDb(join(o.dir, 'nonces.sqlite'), NONCE_SCHEMA);
  const exchangeDb = openFloorDb(join(o.dir, 'exchange.sqlite'), EXCHANGE_SCHEMA);
  const busDb = openFloorDb(join(o.dir, 'bus.sqlite'), BUS_SCHEMA);
  const st = {
    scan: queueDb.prepare<[number], { seq: number; group_id: string; body: string }>(
      'SELECT seq, group_id, body FROM q WHERE visible_at <= ? ORDER BY seq LIMIT 256',
    ),
    mark: queueDb.prepare(
      'UPDATE q SET receive_count = receive_count + 1, visible_at = ? WHERE seq = ?',
    ),
    del: queueDb.prepare('DELETE FROM q WHERE seq = ?'),
    claim: nonceDb.prepare(
      `INSERT INTO nonces (key, state, owner, lease_until, expires_at, request_sha256, claimed_at)
       VALUES (?, 'IN_PROGRESS', 'floor', ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
    ),
    complete: nonceDb.prepare(
      `UPDATE nonces SET state = 'COMPLETED', owner = NULL, lease_until = NULL, receipt = ?,
         message_id = ? WHERE key = ?`,
    ),
    head: nonceDb.prepare(
      `INSERT INTO chain_heads (stream, seq, hash) VALUES (?, ?, ?)
       ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
    ),
    order: exchangeDb.prepare(
      `INSERT INTO orders (client_order_id, account, txn, result, placed_at)
       VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    event: busDb.prepare('INSERT INTO events (time, detail) VALUES (?, ?)'),
  };
  const header = b64u(JSON.stringify({ alg: 'ES256', typ: 'receipt+jwt', kid: 'floor' }));
  const heads = new Map<string, { seq: number; hash: string; busy: boolean; waiting: Msg[] }>();
  // Messages in flight per FIFO group, in send order: claims (and so orders) go in that order.
  const lines = new Map<string, Msg[]>();
  const verifiedGroups = new Set<string>();
  let inFlight = 0;
  let done = 0;
  let finishDue: Msg[] = [];
  let scheduled = false;
  let polling = false;
  let onDrained: (() => void) | undefined;
  let empty = false;

  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(turn);
    }
  };

  const signNext = (stream: string) => {
    const h = heads.get(stream)!;
    const m = h.waiting.shift();
    if (!m) {
      h.busy = false;
      return;
    }
    h.busy = true;
    const c = m.claims!;
    const now = Date.now();
    const seq = h.seq + 1;
    void signEs256(o.gatewayKey, header, {
      v: 1,
      iss: o.gatewayId,
      iat: Math.floor(now / 1000),
      jti: newId(),
      req: { jti: c.jti, iss: c.iss, sub: c.sub, sha256: m.sha },
      messageId: String(m.seq),
      outcome: 'EXECUTED',
      fills: [{ qty: c.txn.quantity, price: c.txn.limitPrice }],
      stream,
      seq,
      prev: h.hash,
    }).then((receipt) => {
      h.seq = seq;
      h.hash = sha256(receipt);
      m.receipt = receipt;
      m.head = { seq, hash: h.hash };
      finishDue.push(m);
      schedule();
      signNext(stream);
    });
  };

  const toSign = (m: Msg) => {
    const stream = streamOfAccount(o.gatewayId, m.claims!.sub, o.partitions);
    m.stream = stream;
    let h = heads.get(stream);
    if (!h) {
      h = { seq: 0, hash: 'A'.repeat(43), busy: false, waiting: [] }; // the genesis prev
      heads.set(stream, h);
    }
    h.waiting.push(m);
    if (!h.busy) signNext(stream);
  };

  const verify = (m: Msg) => {
    void verifyEs256(o.requesterKey, m.token).then((claims) => {
      if (!requestClaimsOk(claims, o.gatewayId, Math.floor(Date.now() / 1000))) {
        throw new Error('floor: a benchmark request did not verify');
      }
      m.claims = claims;
      m.sha = createHash('sha256').update(m.token).digest('base64url');
      m.verified = true;
      verifiedGroups.add(m.group);
      schedule();
    });
  };

  // One turn: each file commits once, in the order the design requires.
  const turn = () => {
    scheduled = false;
    const now = Date.now();
    // The leading verified messages of each group are claimed now; the rest wait their turn.
    const claims: Msg[] = [];
    for (const g of verifiedGroups) {
      for (const m of lines.get(g) ?? []) {
        if (!m.verified) break;
        if (m.stream === undefined) claims.push(m); // (claimed ones have their stream)
      }
    }
    verifiedGroups.clear();
    const finish = finishDue;
    finishDue = [];
    if (claims.length + finish.length > 0) {
      nonceDb
        .transaction(() => {
          for (const m of claims) {
            const c = m.claims!;
            st.claim.run(`req#${c.iss}#${c.jti}`, now + 30_000, (c.exp + 30) * 1000, m.sha, now);
          }
          for (const m of finish) {
            const c = m.claims!;
            st.complete.run(m.receipt, String(m.seq), `req#${c.iss}#${c.jti}`);
            st.head.run(m.stream, m.head!.seq, m.head!.hash);
          }
        })
        .immediate();
    }
    if (claims.length > 0) {
      exchangeDb
        .transaction(() => {
          for (const m of claims) {
            const c = m.claims!;
            st.order.run(`${c.iss}:${c.jti}`, c.sub, JSON.stringify(c.txn), 'FILLED', now);
          }
        })
        .immediate();
    }
    if (finish.length > 0) {
      busDb
        .transaction(() => {
          for (const m of finish) {
            st.event.run(now, JSON.stringify({ receipt: m.receipt, request: m.token }));
          }
        })
        .immediate();
    }
    for (const m of finish) {
      const line = lines.get(m.group)!;
      // A group's receipts are signed on one stream, so they finish in claim (send) order.
      if (line.shift() !== m) throw new Error('floor: a group finished out of order');
      if (line.length === 0) lines.delete(m.group);
    }
    const received: Msg[] = [];
    const room = o.concurrency - inFlight + finish.length;
    if (finish.length > 0 || (polling && room > 0)) {
      queueDb
        .transaction(() => {
          for (const m of finish) st.del.run(m.seq);
          if (!polling || room <= 0) return;
          // SQS FIFO: groups with nothing in flight deliver, several messages each, in order.
          const busy = new Set(lines.keys());
          for (const r of st.scan.all(now)) {
            if (received.length >= room) break;
            if (busy.has(r.group_id)) continue;
            st.mark.run(now + 60_000, r.seq);
            received.push({ seq: r.seq, group: r.group_id, token: r.body, t0: performance.now() });
          }
        })
        .immediate();
    }
    for (const m of claims) toSign(m);
    for (const m of finish) {
      inFlight -= 1;
      done += 1;
      o.onDone?.(performance.now() - m.t0);
    }
    inFlight += received.length;
    for (const m of received) {
      const line = lines.get(m.group);
      if (line) line.push(m);
      else lines.set(m.group, [m]);
      verify(m);
    }
    empty = polling && received.length === 0 && room > 0;
    if (inFlight === 0 && empty && onDrained) {
      polling = false;
      onDrained();
      return;
    }
    // Poll for new messages while there is room (the pipeline floor's requester feeds the queue).
    if (polling && inFlight < o.concurrency && received.length === 0) setTimeout(schedule, 2);
  };

  return {
    start() {
      polling = true;
      schedule();
    },
    drained: () =>
      new Promise<void>((resolve) => {
        onDrained = resolve;
        schedule();
      }),
    get done() {
      return done;
    },
    close() {
      polling = false;
      for (const db of [queueDb, nonceDb, exchangeDb, busDb] as Db[]) db.close();
    },
  };
}

/** Queues `tokens` (untimed), then drains them through the floor; messages/s and latency. */
export async function runGatewayFloor(
  options: Omit<GatewayFloorOptions, 'onDone'> & {
    readonly messages: readonly { readonly body: string; readonly groupId: string }[];
  },
): Promise<{ opsPerSec: number; p50Ms: number; p99Ms: number }> {
  const q = openFloorDb(join(options.dir, 'queue.sqlite'), QUEUE_SCHEMA);
  const ins = q.prepare('INSERT INTO q (group_id, body, sent_at, visible_at) VALUES (?, ?, ?, ?)');
  q.transaction(() => {
    for (const m of options.messages) ins.run(m.groupId, m.body, Date.now(), 0);
  })();
  q.close();
  const latencies: number[] = [];
  const floor = createGatewayFloor({ ...options, onDone: (ms) => latencies.push(ms) });
  const t = performance.now();
  floor.start();
  await floor.drained();
  const secs = (performance.now() - t) / 1000;
  floor.close();
  if (floor.done !== options.messages.length) {
    throw new Error(`floor: ${floor.done} of ${options.messages.length} messages done`);
  }
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: floor.done / secs,
    p50Ms: percentileOf(latencies, 50),
    p99Ms: percentileOf(latencies, 99),
  };
}
