// The simulator's order book of record: one row per (API key, client order id), in SQLite, so a
// simulator restarted on the same file still knows every order and a restarted gateway can
// reconcile against it. Inserting an id that exists is refused in the same transaction that
// checks it: the exchange can never hold two orders under one client order id.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createGroupCommit, openSqlite } from '@countersign/sqlite';
import { ApiOrder } from '../exchange-api.ts';
import { settlementOf } from '../exchange-orders.ts';

export interface OrderPage {
  readonly orders: ApiOrder[];
  readonly next?: string;
}

export interface SimOrderStore {
  get(apiKey: string, clientOrderId: string): ApiOrder | undefined;
  /** Stores the order unless its id exists; `created: false` returns what is stored. */
  insertIfAbsent(
    apiKey: string,
    order: ApiOrder,
  ): Promise<{ readonly created: boolean; readonly order: ApiOrder }>;
  /** Replaces a stored order (cancel, kill switch). */
  update(apiKey: string, order: ApiOrder): Promise<void>;
  /** Orders created in [from, to), oldest first. */
  list(
    apiKey: string,
    range: { from: number; to: number; limit: number; cursor?: string },
  ): OrderPage;
  /** Open orders of every key (the kill switch cancels them). */
  open(): { apiKey: string; order: ApiOrder }[];
  all(): ApiOrder[];
  /** Orders the gateway would receipt as EXECUTED (settlementOf says FILLED). */
  executions(): number;
  close(): void;
}

interface Row {
  body: string;
}

const isExecuted = (order: ApiOrder): number => {
  const s = settlementOf(order);
  return s.settled && s.result.status === 'FILLED' ? 1 : 0;
};

/** The cursor is the position of the last row returned: `<createdAt>.<rowid>`. */
function parseCursor(cursor: string | undefined): [number, number] {
  if (!cursor) return [-1, -1];
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  return m ? [Number(m[1]), Number(m[2])] : [Number.MAX_SAFE_INTEGER, 0];
}

export function openSimOrderStore(path: string | undefined): SimOrderStore {
  if (path) mkdirSync(dirname(path), { recursive: true });
  const db = openSqlite(path ?? ':memory:');
  const group = createGroupCommit(db);
  db.exec(`CREATE TABLE IF NOT EXISTS sim_orders (
    api_key TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    open INTEGER NOT NULL,
    executed INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (api_key, client_order_id)
  );
  CREATE INDEX IF NOT EXISTS sim_orders_by_time ON sim_orders (api_key, created_at);`);
  const select = db.prepare<[string, string], Row>(
    'SELECT body FROM sim_orders WHERE api_key = ? AND client_order_id = ?',
  );
  const insert = db.prepare<[string, string, number, number, number, string]>(
    `INSERT INTO sim_orders (api_key, client_order_id, created_at, open, executed, body)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const replace = db.prepare<[number, number, string, string, string]>(
    'UPDATE sim_orders SET open = ?, executed = ?, body = ? WHERE api_key = ? AND client_order_id = ?',
  );
  const page = db.prepare<
    [string, number, number, number, number, number],
    Row & { created_at: number; rid: number }
  >(
    `SELECT body, created_at, rowid AS rid FROM sim_orders
     WHERE api_key = ? AND created_at >= ? AND created_at < ? AND (created_at, rowid) > (?, ?)
     ORDER BY created_at, rowid LIMIT ?`,
  );
  const openRows = db.prepare<[], Row & { api_key: string }>(
    'SELECT api_key, body FROM sim_orders WHERE open = 1',
  );
  const allRows = db.prepare<[], Row>('SELECT body FROM sim_orders ORDER BY created_at, rowid');
  const executed = db.prepare<[], { n: number }>(
    'SELECT COUNT(*) AS n FROM sim_orders WHERE executed = 1',
  );
  const parse = (row: Row) => ApiOrder.parse(JSON.parse(row.body));
  const isOpen = (o: ApiOrder) => (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED' ? 1 : 0);

  return {
    get(apiKey, id) {
      const row = select.get(apiKey, id);
      return row ? parse(row) : undefined;
    },
    insertIfAbsent(apiKey, order) {
      return group.run(() => {
        const existing = select.get(apiKey, order.clientOrderId);
        if (existing) return { created: false, order: parse(existing) };
        insert.run(
          apiKey,
          order.clientOrderId,
          order.createdAt,
          isOpen(order),
          isExecuted(order),
          JSON.stringify(order),
        );
        return { created: true, order };
      });
    },
    update(apiKey, order) {
      return group.run(() => {
        replace.run(
          isOpen(order),
          isExecuted(order),
          JSON.stringify(order),
          apiKey,
          order.clientOrderId,
        );
      });
    },
    list(apiKey, { from, to, limit, cursor }) {
      const [afterAt, afterRow] = parseCursor(cursor);
      const rows = page.all(apiKey, from, to, afterAt, afterRow, limit + 1);
      const more = rows.length > limit;
      const shown = rows.slice(0, limit);
      const last = shown[shown.length - 1];
      return {
        orders: shown.map(parse),
        ...(more && last
          ? { next: Buffer.from(`${last.created_at}.${last.rid}`, 'latin1').toString('base64url') }
          : {}),
      };
    },
    open: () => openRows.all().map((r) => ({ apiKey: r.api_key, order: parse(r) })),
    all: () => allRows.all().map(parse),
    executions: () => executed.get()?.n ?? 0,
    close: () => group.close(),
  };
}
