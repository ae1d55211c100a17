// Same-work floor of the requester's HTTP API (DESIGN.md §8a): a plain node:http server doing
// the mandatory work of POST /v1/transactions, with no project code.
//
// Per request: bearer check (SHA-256 of the presented key, timingSafeEqual against the stored
// digest), JSON body, field checks (account allowed for the key, the order's fields), claims,
// ES256 sign on the thread pool, order-status row, queue insert, 202 with the jti.
//
// Durable writes, each the minimum the design requires, and why:
// - queue insert (queue.sqlite: group, body, times): the request is accepted only once queued;
// - with an Idempotency-Key only: the key's record (requester.sqlite: scope + key → body hash,
//   jti, token), committed BEFORE the queue insert, so a retry after a crash re-sends the very
//   same token instead of signing a second one; and a dedup row for that jti in the queue file
//   (only keyed requests can be re-sent with the same jti, so only they need it). One record
//   write per key: the 202 answer is derived from the stored jti, so no "completed" write.
// - the order's status row (requester.sqlite: iss, jti, account), committed BEFORE the queue
//   insert: the requester's API answers GET /v1/transactions/{jti} from the 202 on (README,
//   "Order status": every signed order is remembered before it can be sent). With a key, it
//   shares the key record's transaction.
// Group commit per event-loop turn on each file (requester.sqlite first, then the queue).
import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { b64u, newId, openFloorDb, sha256, signEs256, turnCommit } from './base.ts';
import { QUEUE_SCHEMA } from './gateway.ts';

const IDEMPOTENCY_SCHEMA = `
CREATE TABLE IF NOT EXISTS idem (
  scope TEXT NOT NULL, key TEXT NOT NULL, body_sha256 TEXT NOT NULL, jti TEXT NOT NULL,
  token TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS orders (
  iss TEXT NOT NULL, jti TEXT NOT NULL, account TEXT NOT NULL, outcome TEXT, receipt TEXT,
  PRIMARY KEY (jti, iss)
) WITHOUT ROWID;`;
const DEDUP_SCHEMA = `CREATE TABLE IF NOT EXISTS dedup (dedup_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, expires_at INTEGER NOT NULL);`;

const DECIMAL = /^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$/;
const SIDES = new Set(['buy', 'sell']);
const TIFS = new Set(['GTC', 'IOC', 'FOK']);

export interface RequesterFloorOptions {
  readonly dir: string;
  readonly signingKey: KeyObject;
  readonly issuer: string;
  readonly audience: string;
  readonly lifetimeSec: number;
  /** hex SHA-256 of the API key, and the accounts it may use. */
  readonly apiKey: {
    readonly sha256: string;
    readonly name: string;
    readonly accounts: readonly string[];
  };
}

export interface RequesterFloor {
  readonly url: string;
  close(): Promise<void>;
}

function txnOk(t: unknown): t is Record<string, unknown> {
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return false;
  const r = t as Record<string, unknown>;
  return (
    r.type === 'order' &&
    typeof r.side === 'string' &&
    SIDES.has(r.side) &&
    typeof r.symbol === 'string' &&
    /^[A-Z0-9]{1,12}-[A-Z0-9]{1,12}$/.test(r.symbol) &&
    typeof r.quantity === 'string' &&
    DECIMAL.test(r.quantity) &&
    typeof r.limitPrice === 'string' &&
    DECIMAL.test(r.limitPrice) &&
    typeof r.timeInForce === 'string' &&
    TIFS.has(r.timeInForce) &&
    Object.keys(r).length === 6
  );
}

export async function startRequesterFloor(o: RequesterFloorOptions): Promise<RequesterFloor> {
  const queueDb = openFloorDb(join(o.dir, 'queue.sqlite'), `${QUEUE_SCHEMA}\n${DEDUP_SCHEMA}`);
  const idemDb = openFloorDb(join(o.dir, 'requester.sqlite'), IDEMPOTENCY_SCHEMA);
  const queueTurn = turnCommit(queueDb);
  const idemTurn = turnCommit(idemDb);
  const insert = queueDb.prepare(
    'INSERT INTO q (group_id, body, sent_at, visible_at) VALUES (?, ?, ?, ?)',
  );
  const dedup = queueDb.prepare(
    'INSERT INTO dedup (dedup_id, seq, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const findKey = idemDb.prepare<[string, string], { body_sha256: string; jti: string }>(
    'SELECT body_sha256, jti FROM idem WHERE scope = ? AND key = ?',
  );
  const putKey = idemDb.prepare(
    'INSERT INTO idem (scope, key, body_sha256, jti, token, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const putOrder = idemDb.prepare('INSERT INTO orders (iss, jti, account) VALUES (?, ?, ?)');
  const digest = Buffer.from(o.apiKey.sha256, 'hex');
  const accounts = new Set(o.apiKey.accounts);
  const header = b64u(JSON.stringify({ alg: 'ES256', typ: 'txn+jwt', kid: 'floor' }));

  const answer = (res: ServerResponse, status: number, body: object) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const auth = req.headers.authorization ?? '';
    const presented = createHash('sha256')
      .update(auth.startsWith('Bearer ') ? auth.slice(7) : '')
      .digest();
    if (!timingSafeEqual(presented, digest)) return answer(res, 401, { code: 'UNAUTHORIZED' });
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return answer(res, 400, { code: 'BAD_JSON' });
    }
    const b = body as Record<string, unknown>;
    if (typeof body !== 'object' || body === null || !txnOk(b.txn) || typeof b.account !== 'string')
      return answer(res, 422, { code: 'VALIDATION' });
    if (!accounts.has(b.account)) return answer(res, 403, { code: 'FORBIDDEN' });
    const idemKey = req.headers['idempotency-key'];
    const bodySha = typeof idemKey === 'string' ? sha256(raw) : '';
    if (typeof idemKey === 'string') {
      const known = findKey.get(o.apiKey.name, idemKey);
      if (known) {
        if (known.body_sha256 !== bodySha) return answer(res, 409, { code: 'IDEMPOTENCY' });
        return answer(res, 202, { jti: known.jti });
      }
    }
    const now = Date.now();
    const iat = Math.floor(now / 1000);
    const jti = newId();
    const token = await signEs256(o.signingKey, header, {
      iss: o.issuer,
      sub: b.account,
      aud: o.audience,
      iat,
      nbf: iat,
      exp: iat + o.lifetimeSec,
      jti,
      txn: b.txn,
    });
    const account = b.account;
    await idemTurn(() => {
      if (typeof idemKey === 'string') {
        putKey.run(o.apiKey.name, idemKey, bodySha, jti, token, now + 86_400_000);
      }
      putOrder.run(o.issuer, jti, account);
    });
    await queueTurn(() => {
      const seq = insert.run(account, token, now, now).lastInsertRowid;
      if (typeof idemKey === 'string') dedup.run(jti, seq, now + 300_000);
    });
    answer(res, 202, { jti });
  };

  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/transactions') {
      return answer(res, 404, { code: 'NOT_FOUND' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 65_536) chunks.push(c);
    });
    req.on('end', () => {
      if (size > 65_536) return answer(res, 413, { code: 'TOO_LARGE' });
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch(() =>
        answer(res, 500, { code: 'INTERNAL' }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      queueDb.close();
      idemDb.close();
    },
  };
}
