// Same-work floor of the audit replay (DESIGN.md §8a): a plain replay of the embedded archive,
// with no project code.
//
// Per receipt: read it from the archive (bus.sqlite, keyset pages), two ES256 verifies (the
// receipt and the request inside it) on the thread pool, so on every core, up to `window`
// receipts ahead; then, in archive order, the chain bookkeeping: the request's SHA-256 must be
// the one the receipt names, the receipt must follow its stream's head (seq + 1, prev = hash of
// the previous receipt). (The embedded archive holds one gateway's receipts in chain order; the
// project's auditor also accepts any order and duplicates, and checks policy and schemas.) A
// replay writes nothing durable: its state is in memory and its report comes at the end.
import { createHash, type KeyObject } from 'node:crypto';
import Database from 'better-sqlite3';
import { verifyEs256 } from './base.ts';

const GENESIS = 'A'.repeat(43);
const hashOf = (s: string) => createHash('sha256').update(s).digest('base64url');

interface Receipt {
  readonly iss: string;
  readonly stream: string;
  readonly seq: number;
  readonly prev: string;
  readonly req: {
    readonly jti: string | null;
    readonly iss: string | null;
    readonly sha256: string;
  };
}

/** Replays the archive at `busPath`; receipts/s, and throws on the first broken receipt. */
export async function replayFloor(options: {
  readonly busPath: string;
  readonly gatewayKey: KeyObject;
  readonly requesterKey: KeyObject;
  readonly window?: number;
}): Promise<{ readonly receipts: number; readonly opsPerSec: number }> {
  const db = new Database(options.busPath, { readonly: true, fileMustExist: true });
  const page = db.prepare<[number], { id: number; detail: string }>(
    'SELECT id, detail FROM bus_events WHERE id > ? ORDER BY id LIMIT 500',
  );
  const window = options.window ?? 128;
  const heads = new Map<string, { seq: number; hash: string }>();
  let n = 0;
  const apply = (receiptToken: string, request: string, claims: Receipt) => {
    if (claims.req.sha256 !== hashOf(request)) throw new Error('floor: request hash mismatch');
    const head = heads.get(claims.stream) ?? { seq: 0, hash: GENESIS };
    if (claims.seq !== head.seq + 1 || claims.prev !== head.hash) {
      throw new Error(`floor: chain broken at ${claims.stream}#${claims.seq}`);
    }
    heads.set(claims.stream, { seq: claims.seq, hash: hashOf(receiptToken) });
    n += 1;
  };
  type Pending = Promise<() => void>;
  const pending: Pending[] = [];
  const t = performance.now();
  let after = 0;
  for (;;) {
    const rows = page.all(after);
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    for (const row of rows) {
      const detail = JSON.parse(row.detail) as { receipt: string; request: string };
      pending.push(
        Promise.all([
          verifyEs256(options.gatewayKey, detail.receipt),
          verifyEs256(options.requesterKey, detail.request),
        ]).then(([receipt, request]) => {
          if (!receipt || !request) throw new Error('floor: a signature did not verify');
          return () => apply(detail.receipt, detail.request, receipt as Receipt);
        }),
      );
      if (pending.length >= window) (await pending.shift()!)();
    }
  }
  while (pending.length > 0) (await pending.shift()!)();
  const secs = (performance.now() - t) / 1000;
  db.close();
  return { receipts: n, opsPerSec: n / secs };
}
