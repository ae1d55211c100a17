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
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createGroupCommit, openSqlite } from '@countersign/sqlite';
import { compareDecimals } from '@countersign/contracts';
import type { Fill } from '@countersign/contracts';
import { exchangeTimeout } from './errors.ts';
import type { Exchange, ExchangeOrder, ExecResult } from './ports.ts';

export interface PaperExchangeOptions {
  /** SQLite file; in memory when absent. */
  readonly path?: string;
  /** Max quantity available to IOC/FOK orders (decimal string). Unlimited when absent. */
  readonly liquidity?: string;
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
  close(): Promise<void>;
}

interface OrderRow {
  result: string;
}

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
  insertIfAbsent(order: ExchangeOrder, result: ExecResult): Promise<ExecResult>;
  count(): number;
  close(): void;
}

function memoryOrders(): OrderStore {
  const orders = new Map<string, ExecResult>();
  return {
    get: (id) => orders.get(id),
    insertIfAbsent(order, result) {
      const existing = orders.get(order.clientOrderId);
      if (existing) return Promise.resolve(existing);
      orders.set(order.clientOrderId, result);
      return Promise.resolve(result);
    },
    count: () => orders.size,
    close: () => undefined,
  };
}

function sqliteOrders(path: string): OrderStore {
  mkdirSync(dirname(path), { recursive: true });
  const db = openSqlite(path);
  const group = createGroupCommit(db);
  db.exec(`CREATE TABLE IF NOT EXISTS paper_orders (
    client_order_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    txn TEXT NOT NULL,
    result TEXT NOT NULL
  )`);
  const select = db.prepare<[string], OrderRow>(
    'SELECT result FROM paper_orders WHERE client_order_id = ?',
  );
  const insert = db.prepare<[string, string, string, string]>(
    'INSERT INTO paper_orders (client_order_id, account, txn, result) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM paper_orders');
  // Immediate transaction (group commit): two processes placing the same id see one insert and
  // one read.
  const placeOne = (order: ExchangeOrder, computed: ExecResult): ExecResult => {
    const existing = select.get(order.clientOrderId);
    if (existing) return JSON.parse(existing.result) as ExecResult;
    insert.run(
      order.clientOrderId,
      order.account,
      JSON.stringify(order.txn),
      JSON.stringify(computed),
    );
    return computed;
  };
  return {
    get(id) {
      const row = select.get(id);
      return row ? (JSON.parse(row.result) as ExecResult) : undefined;
    },
    insertIfAbsent: (order, result) => group.run(() => placeOne(order, result)),
    count: () => count.get()?.n ?? 0,
    close: () => group.close(),
  };
}

export function createPaperExchange(options: PaperExchangeOptions = {}): PaperExchange {
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
      const result = await orders.insertIfAbsent(order, computed);
      if (timeouts.delete(order.clientOrderId)) throw exchangeTimeout(order.clientOrderId);
      return result;
    },
    async getOrder(clientOrderId) {
      await wait();
      return orders.get(clientOrderId);
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
