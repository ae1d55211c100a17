// What the same-work floors share (DESIGN.md §8a): no project code, only node:crypto and
// better-sqlite3. SQLite files are opened with the embedded adapters' settings (WAL,
// synchronous NORMAL, no mmap, 10,000-page autocheckpoint, 64 MiB journal limit, 5 s busy
// timeout), and each file gets plain group commit: the writes queued in one event-loop turn run
// in one BEGIN IMMEDIATE … COMMIT (no savepoints, no PRAGMA per group), and their callers resume
// after the COMMIT. ES256 signs and verifies run on libuv's thread pool (callback form).
import {
  createHash,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import Database from 'better-sqlite3';

export type Db = Database.Database;

export function openFloorDb(path: string, schema: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('mmap_size = 0');
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  db.exec(schema);
  return db;
}

/** Group commit per event-loop turn on one file: `run(fn)` resolves after fn's group committed. */
export function turnCommit(db: Db): <T>(fn: () => T) => Promise<T> {
  let queue: { fn: () => unknown; ok: (v: unknown) => void; fail: (e: unknown) => void }[] = [];
  const group = db.transaction((ops: typeof queue) => ops.map((o) => o.fn()));
  const flush = () => {
    const ops = queue;
    queue = [];
    try {
      const values = group.immediate(ops);
      ops.forEach((o, i) => o.ok(values[i]));
    } catch (err) {
      for (const o of ops) o.fail(err);
    }
  };
  return <T>(fn: () => T) =>
    new Promise<T>((ok, fail) => {
      if (queue.length === 0) setImmediate(flush);
      queue.push({ fn, ok: ok as (v: unknown) => void, fail });
    });
}

export const b64u = (b: Buffer | string): string =>
  (typeof b === 'string' ? Buffer.from(b) : b).toString('base64url');

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url');

export const newId = (): string => randomBytes(16).toString('base64url');

/** ES256 compact JWS, signed on the thread pool. */
export function signEs256(key: KeyObject, header: string, payload: object): Promise<string> {
  const input = `${header}.${b64u(JSON.stringify(payload))}`;
  return new Promise((ok, fail) =>
    cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }, (err, sig) =>
      err ? fail(err) : ok(`${input}.${sig.toString('base64url')}`),
    ),
  );
}

/** Verifies an ES256 compact JWS on the thread pool; its payload, parsed, or undefined. */
export function verifyEs256(key: KeyObject, token: string): Promise<unknown> {
  const d1 = token.indexOf('.');
  const d2 = token.lastIndexOf('.');
  return new Promise((ok, fail) =>
    cryptoVerify(
      'sha256',
      Buffer.from(token.slice(0, d2)),
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(token.slice(d2 + 1), 'base64url'),
      (err, valid) => {
        if (err) return fail(err);
        if (!valid) return ok(undefined);
        ok(JSON.parse(Buffer.from(token.slice(d1 + 1, d2), 'base64url').toString('utf8')));
      },
    ),
  );
}

/** The request claims a floor checks (types and audience/time), or a reason. */
export function requestClaimsOk(c: unknown, aud: string, nowSec: number): c is RequestFields {
  if (typeof c !== 'object' || c === null) return false;
  const r = c as Record<string, unknown>;
  return (
    typeof r.iss === 'string' &&
    typeof r.sub === 'string' &&
    typeof r.jti === 'string' &&
    r.aud === aud &&
    typeof r.exp === 'number' &&
    r.exp + 30 >= nowSec &&
    typeof r.nbf === 'number' &&
    r.nbf - 30 <= nowSec &&
    typeof r.txn === 'object' &&
    r.txn !== null
  );
}

export interface RequestFields {
  readonly iss: string;
  readonly sub: string;
  readonly jti: string;
  readonly aud: string;
  readonly exp: number;
  readonly nbf: number;
  readonly txn: Record<string, unknown>;
}

/** Stream of an account among P partitions (any stable hash does). */
export function streamOfAccount(gatewayId: string, sub: string, partitions: number): string {
  const h = createHash('sha256').update(sub).digest();
  return `${gatewayId}#${h.readUInt32BE(0) % partitions}`;
}

export function percentileOf(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
