// A paper exchange: deterministic fills, idempotent by client order id, failures on demand.
// SQLite-backed when given a path (the embedded runtime shares `.countersign/exchange.sqlite`
// between processes), in memory otherwise (a Map: no native module, so it runs on Lambda).
//
// Fill rules (simple on purpose, documented in the README):
// - every order fills at its limit price;
// - GTC fills its full quantity;
// - with `liquidity` set (max quantity per order): IOC fills min(quantity, liquidity) and is
//   rejected when liquidity is 0; FOK fills fully when quantity ≤ liquidity, else is rejected;
//   GTC ignores liquidity (it would rest on a book; the paper exchange fills it).
//
// Each order records when it was placed (injected clock), so `listOrders` can hand a period to
// audit reconcile. Files from before that column get it added on open, with 0 (unknown) for the
// orders already there: they are listed only by periods that start at the epoch.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  createGroupCommit,
  openSqlite,
  describeSqliteFailure,
  type SqliteDatabase,
} from '@countersign/sqlite';
import { compareDecimals, systemClock } from '@countersign/contracts';
import type { Clock, Fill } from '@countersign/contracts';
import { exchangeTimeout, GatewayError } from './errors.ts';
import type { Exchange, ExchangeOrder, ExecResult, ListedOrder, ListOrdersRange } from './ports.ts';

export interface PaperExchangeOptions {
  /** SQLite file; in memory when absent. */
  readonly path?: string;
  /** Max quantity available to IOC/FOK orders (decimal string). Unlimited when absent. */
  readonly liquidity?: string;
  /** Stamps each order's placement time. Default: the system clock. */
  readonly clock?: Clock;
}

export interface PaperExchange extends Exchange {
  /** Orders actually executed (stored), across every process sharing the file. */
  executions(): number;
  /** Calls of `place` seen by this instance (including idempotent repeats). */
  placeCalls(): number;
  /** Rejects matching orders with the returned reason (undefined = accept). Replaces the previous rule. */
  rejectIf(rule: ((order: ExchangeOrder) => string | undefined) | undefined): void;
  /** The next place() of this id records the order and then reports a timeout. */
  timeoutOnce(clientOrderId: string): void;
  /** Every place() and getOrder() waits this long first (slow exchange). */
  setLatencyMs(ms: number): void;
  listOrders(range: ListOrdersRange, signal?: AbortSignal): Promise<ListedOrder[]>;
  close(): Promise<void>;
}

interface OrderRow {
  result: string;
}

interface ListedRow {
  client_order_id: string;
  account: string;
  placed_at: number;
  result: string;
}

/** Rows per page of listOrders: bounded memory and a short read for any number of orders. */
const LIST_PAGE = 1000;

function decide(order: ExchangeOrder, liquidity: string | undefined): ExecResult {
  const { txn } = order;
  const full: Fill = { quantity: txn.quantity, price: txn.limitPrice };
  if (liquidity === undefined || txn.timeInForce === 'GTC')
    return { status: 'FILLED', fills: [full] };
  if (txn.timeInForce === 'FOK') {
    return compareDecimals(txn.quantity, liquidity) <= 0
      ? { status: 'FILLED', fills: [full] }
      : { status: 'REJECTED', reason: 'FOK_NOT_FILLABLE' };
  }
  if (!/[1-9]/.test(liquidity)) return { status: 'REJECTED', reason: 'IOC_NO_LIQUIDITY' };
  const qty = compareDecimals(txn.quantity, liquidity) <= 0 ? txn.quantity : liquidity;
  return { status: 'FILLED', fills: [{ quantity: qty, price: txn.limitPrice }] };
}

/** Where orders live: a SQLite file shared by processes, or a Map (no native module needed). */
interface OrderStore {
  get(clientOrderId: string): ExecResult | undefined;
  /** Inserts unless the id exists; resolves (once stored) with what is stored for the id. */
  insertIfAbsent(order: ExchangeOrder, result: ExecResult, placedAt: number): Promise<ExecResult>;
  /** Up to `limit` orders placed in [from, to) after the cursor, in (placedAt, id) order. */
  page(from: number, to: number, after: ListCursor | undefined, limit: number): ListedOrder[];
  count(): number;
  close(): void;
}

interface ListCursor {
  readonly placedAt: number;
  readonly clientOrderId: string;
}

/** Orders recorded before placement times were (0: listed only by periods from the epoch). */
const UNKNOWN_PLACEMENT = 0;

/** The listing form of a stored order (the port's ListedOrder; a paper order is never PENDING). */
function listed(
  clientOrderId: string,
  account: string,
  placedAt: number,
  result: ExecResult,
): ListedOrder {
  return result.status === 'FILLED'
    ? { clientOrderId, account, placedAt, status: 'FILLED', fills: result.fills }
    : { clientOrderId, account, placedAt, status: 'REJECTED', fills: [], reason: result.reason };
}

function memoryOrders(): OrderStore {
  const orders = new Map<string, { listed: ListedOrder; result: ExecResult }>();
  return {
    get: (id) => orders.get(id)?.result,
    insertIfAbsent(order, result, placedAt) {
      const existing = orders.get(order.clientOrderId);
      if (existing) return Promise.resolve(existing.result);
      orders.set(order.clientOrderId, {
        listed: listed(order.clientOrderId, order.account, placedAt, result),
        result,
      });
      return Promise.resolve(result);
    },
    page(from, to, after, limit) {
      const inRange = [...orders.values()]
        .map((o) => o.listed)
        .filter((o) => o.placedAt >= from && o.placedAt < to)
        .filter(
          (o) =>
            after === undefined ||
            o.placedAt > after.placedAt ||
            (o.placedAt === after.placedAt && o.clientOrderId > after.clientOrderId),
        )
        .sort(
          (a, b) =>
            a.placedAt - b.placedAt ||
            (a.clientOrderId < b.clientOrderId ? -1 : a.clientOrderId > b.clientOrderId ? 1 : 0),
        );
      return inRange.slice(0, limit);
    },
    count: () => orders.size,
    close: () => undefined,
  };
}

/**
 * Creates the table, or brings an older file up to date: `placed_at` was added for
 * reconciliation. In one immediate transaction, so two processes opening an old file at once
 * do not both alter it.
 */
function migrate(db: SqliteDatabase): void {
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS paper_orders (
      client_order_id TEXT PRIMARY KEY,
      account TEXT NOT NULL,
      txn TEXT NOT NULL,
      result TEXT NOT NULL,
      placed_at INTEGER NOT NULL
    )`);
    const columns = db.prepare<[], { name: string }>('PRAGMA table_info(paper_orders)').all();
    if (!columns.some((c) => c.name === 'placed_at')) {
      db.exec(
        `ALTER TABLE paper_orders ADD COLUMN placed_at INTEGER NOT NULL DEFAULT ${UNKNOWN_PLACEMENT}`,
      );
    }
    // Placement times only grow, so this index is appended to, not reshuffled.
    db.exec(
      'CREATE INDEX IF NOT EXISTS paper_orders_placed ON paper_orders (placed_at, client_order_id)',
    );
  }).immediate();
}

function sqliteOrders(path: string): OrderStore {
  mkdirSync(dirname(path), { recursive: true });
  const db = openSqlite(path, { setup: migrate });
  const group = createGroupCommit(db);
  /** A failure of the file, as STORE_FAILED naming it (the pipeline logs it and retries). */
  const failed = (what: string, err: unknown): GatewayError<'STORE_FAILED'> => {
    const f = describeSqliteFailure(`paper exchange ${what}`, path, err);
    return new GatewayError('STORE_FAILED', f.message, { details: f.details, cause: err });
  };
  const reading = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw failed(what, err);
    }
  };
  const select = db.prepare<[string], OrderRow>(
    'SELECT result FROM paper_orders WHERE client_order_id = ?',
  );
  const insert = db.prepare<[string, string, string, string, number]>(
    'INSERT INTO paper_orders (client_order_id, account, txn, result, placed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM paper_orders');
  // Keyset pages on the (placed_at, client_order_id) index.
  const firstPage = db.prepare<[number, number, number], ListedRow>(
    `SELECT client_order_id, account, placed_at, result FROM paper_orders
     WHERE placed_at >= ? AND placed_at < ?
     ORDER BY placed_at, client_order_id LIMIT ?`,
  );
  const nextPage = db.prepare<[number, string, number, number], ListedRow>(
    `SELECT client_order_id, account, placed_at, result FROM paper_orders
     WHERE (placed_at, client_order_id) > (?, ?) AND placed_at < ?
     ORDER BY placed_at, client_order_id LIMIT ?`,
  );
  // Immediate transaction (group commit): two processes placing the same id see one insert and
  // one read.
  const placeOne = (order: ExchangeOrder, computed: ExecResult, placedAt: number): ExecResult => {
    const existing = select.get(order.clientOrderId);
    if (existing) return JSON.parse(existing.result) as ExecResult;
    insert.run(
      order.clientOrderId,
      order.account,
      JSON.stringify(order.txn),
      JSON.stringify(computed),
      placedAt,
    );
    return computed;
  };
  return {
    get(id) {
      const row = reading('getOrder', () => select.get(id));
      return row ? (JSON.parse(row.result) as ExecResult) : undefined;
    },
    insertIfAbsent: (order, result, placedAt) =>
      group
        .run(() => placeOne(order, result, placedAt))
        .catch((err: unknown) => {
          throw failed('place', err);
        }),
    page(from, to, after, limit) {
      const rows = reading('listOrders', () =>
        after
          ? nextPage.all(after.placedAt, after.clientOrderId, to, limit)
          : firstPage.all(from, to, limit),
      );
      return rows.map((r) =>
        listed(r.client_order_id, r.account, r.placed_at, JSON.parse(r.result) as ExecResult),
      );
    },
    count: () => reading('count', () => count.get()?.n ?? 0),
    close: () => group.close(),
  };
}

export function createPaperExchange(options: PaperExchangeOptions = {}): PaperExchange {
  const clock = options.clock ?? systemClock;
  const orders = options.path ? sqliteOrders(options.path) : memoryOrders();
  let rule: ((order: ExchangeOrder) => string | undefined) | undefined;
  const timeouts = new Set<string>();
  let latencyMs = 0;
  let calls = 0;
  const wait = async () => {
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
  };

  return {
    async place(order) {
      calls += 1;
      await wait();
      const rejection = rule?.(order);
      const computed: ExecResult =
        rejection === undefined
          ? decide(order, options.liquidity)
          : { status: 'REJECTED', reason: rejection };
      const result = await orders.insertIfAbsent(order, computed, clock.now());
      if (timeouts.delete(order.clientOrderId)) throw exchangeTimeout(order.clientOrderId);
      return result;
    },
    async getOrder(clientOrderId) {
      await wait();
      return orders.get(clientOrderId);
    },
    async listOrders({ from, to }, signal) {
      const out: ListedOrder[] = [];
      let after: ListCursor | undefined;
      for (;;) {
        signal?.throwIfAborted();
        const page = orders.page(from, to, after, LIST_PAGE);
        out.push(...page);
        if (page.length < LIST_PAGE) return out;
        const last = page[page.length - 1]!;
        after = { placedAt: last.placedAt, clientOrderId: last.clientOrderId };
        // Let other work run between pages (a long history must not starve the loop).
        await nextTurn();
      }
    },
    executions: () => orders.count(),
    placeCalls: () => calls,
    rejectIf(next) {
      rule = next;
    },
    timeoutOnce(clientOrderId) {
      timeouts.add(clientOrderId);
    },
    setLatencyMs(ms) {
      latencyMs = ms;
    },
    close() {
      orders.close();
      return Promise.resolve();
    },
  };
}
