import { mkdtempSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { corruptPages } from '@countersign/sqlite/testing';
import { createPaperExchange } from './paper-exchange.ts';
import type { ExchangeOrder, ListedOrder } from './ports.ts';

const listAll = (
  ex: { listOrders(range: { from: number; to: number }): Promise<ListedOrder[]> },
  from: number,
  to: number,
): Promise<ListedOrder[]> => ex.listOrders({ from, to });

const order = (id: string, over: Partial<ExchangeOrder['txn']> = {}): ExchangeOrder => ({
  clientOrderId: id,
  account: 'a1',
  txn: {
    type: 'order',
    side: 'buy',
    symbol: 'BTC-USD',
    quantity: '2',
    limitPrice: '10.5',
    timeInForce: 'GTC',
    ...over,
  },
});

describe('PaperExchange', () => {
  it('fills GTC fully at the limit price, idempotent by client order id', async () => {
    const ex = createPaperExchange();
    const first = await ex.place(order('o1'));
    expect(first).toEqual({ status: 'FILLED', fills: [{ quantity: '2', price: '10.5' }] });
    ex.rejectIf(() => 'NOPE'); // a second place of the same id returns the first result
    expect(await ex.place(order('o1', { quantity: '9' }))).toEqual(first);
    expect(ex.executions()).toBe(1);
    expect(ex.placeCalls()).toBe(2);
    expect(await ex.getOrder('o1')).toEqual(first);
    expect(await ex.getOrder('o2')).toBeUndefined();
  });

  it('IOC and FOK against limited liquidity', async () => {
    const ex = createPaperExchange({ liquidity: '1.5' });
    expect(await ex.place(order('i', { timeInForce: 'IOC' }))).toEqual({
      status: 'FILLED',
      fills: [{ quantity: '1.5', price: '10.5' }],
    });
    expect(await ex.place(order('f', { timeInForce: 'FOK' }))).toEqual({
      status: 'REJECTED',
      reason: 'FOK_NOT_FILLABLE',
    });
    expect(await ex.place(order('f2', { timeInForce: 'FOK', quantity: '1.5' }))).toMatchObject({
      status: 'FILLED',
    });
    expect(
      await createPaperExchange({ liquidity: '0' }).place(order('z', { timeInForce: 'IOC' })),
    ).toEqual({
      status: 'REJECTED',
      reason: 'IOC_NO_LIQUIDITY',
    });
  });

  it('timeoutOnce: the order is placed, the call reports EXCHANGE_TIMEOUT', async () => {
    const ex = createPaperExchange();
    ex.timeoutOnce('t1');
    await expect(ex.place(order('t1'))).rejects.toMatchObject({ code: 'EXCHANGE_TIMEOUT' });
    expect(await ex.getOrder('t1')).toMatchObject({ status: 'FILLED' });
    expect(await ex.place(order('t1'))).toMatchObject({ status: 'FILLED' });
    expect(ex.executions()).toBe(1);
  });

  it('shares orders between instances on one SQLite file (two processes)', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'paper-')), 'exchange.sqlite');
    const a = createPaperExchange({ path });
    const b = createPaperExchange({ path });
    await a.place(order('x'));
    expect(await b.getOrder('x')).toMatchObject({ status: 'FILLED' });
    b.rejectIf(() => 'LATE');
    expect(await b.place(order('x'))).toMatchObject({ status: 'FILLED' });
    expect(a.executions()).toBe(1);
    await a.close();
    await b.close();
  });

  it('listOrders: orders placed in [from, to), oldest first, with their placement time', async () => {
    let now = 1_000;
    const clock = { now: () => now };
    const path = join(mkdtempSync(join(tmpdir(), 'paper-')), 'exchange.sqlite');
    for (const ex of [createPaperExchange({ clock }), createPaperExchange({ path, clock })]) {
      now = 1_000;
      await ex.place(order('b'));
      await ex.place(order('a'));
      now = 2_000;
      ex.rejectIf(() => 'NOPE');
      await ex.place(order('c'));
      now = 3_000;
      await ex.place(order('a')); // an idempotent repeat keeps the first placement time
      expect(await listAll(ex, 0, 10_000)).toEqual([
        {
          clientOrderId: 'a',
          account: 'a1',
          placedAt: 1_000,
          status: 'FILLED',
          fills: [{ quantity: '2', price: '10.5' }],
        },
        {
          clientOrderId: 'b',
          account: 'a1',
          placedAt: 1_000,
          status: 'FILLED',
          fills: [{ quantity: '2', price: '10.5' }],
        },
        {
          clientOrderId: 'c',
          account: 'a1',
          placedAt: 2_000,
          status: 'REJECTED',
          fills: [],
          reason: 'NOPE',
        },
      ]);
      expect((await listAll(ex, 1_001, 2_001)).map((o) => o.clientOrderId)).toEqual(['c']);
      expect(await listAll(ex, 2_001, 3_001)).toEqual([]);
      await ex.close();
    }
  });

  it('listOrders pages through more orders than one page holds, in order', async () => {
    let now = 0;
    const path = join(mkdtempSync(join(tmpdir(), 'paper-')), 'exchange.sqlite');
    const ex = createPaperExchange({ path, clock: { now: () => now } });
    const ids: string[] = [];
    for (let i = 0; i < 2_345; i++) {
      now = Math.floor(i / 7); // several orders share a millisecond: the cursor must not skip
      const id = `o${String(i).padStart(5, '0')}`;
      ids.push(id);
      await ex.place(order(id));
    }
    expect((await listAll(ex, 0, 1e12)).map((o) => o.clientOrderId)).toEqual(ids);
    const aborted = new AbortController();
    aborted.abort();
    await expect(ex.listOrders({ from: 0, to: 1e12 }, aborted.signal)).rejects.toThrow();
    await ex.close();
  });

  it('adds the placement time to a file from before it existed (old orders: placedAt 0)', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'paper-')), 'exchange.sqlite');
    const old = new Database(path);
    old.exec(`CREATE TABLE paper_orders (
      client_order_id TEXT PRIMARY KEY, account TEXT NOT NULL, txn TEXT NOT NULL, result TEXT NOT NULL
    )`);
    old
      .prepare('INSERT INTO paper_orders VALUES (?, ?, ?, ?)')
      .run('legacy', 'a1', '{}', JSON.stringify({ status: 'FILLED', fills: [] }));
    old.close();
    // The first open migrates; a second one finds the column and leaves it.
    const a = createPaperExchange({ path, clock: { now: () => 5_000 } });
    const b = createPaperExchange({ path, clock: { now: () => 5_000 } });
    await a.place(order('new'));
    expect(await b.getOrder('legacy')).toEqual({ status: 'FILLED', fills: [] });
    expect((await listAll(b, 0, 10_000)).map((o) => [o.clientOrderId, o.placedAt])).toEqual([
      ['legacy', 0],
      ['new', 5_000],
    ]);
    // Orders of unknown time appear only in periods that start at the epoch.
    expect((await listAll(b, 1, 10_000)).map((o) => o.clientOrderId)).toEqual(['new']);
    await a.close();
    await b.close();
  });

  it('a damaged file: STORE_FAILED naming the file, never a raw SQLite error', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'paper-')), 'exchange.sqlite');
    const ex = createPaperExchange({ path });
    for (let i = 0; i < 100; i++) await ex.place(order(`o${i}`.padEnd(60, 'x')));
    await ex.close();
    corruptPages(path);
    const damaged = createPaperExchange({ path });
    await expect(damaged.getOrder('o7'.padEnd(60, 'x'))).rejects.toMatchObject({
      code: 'STORE_FAILED',
      message: `paper exchange getOrder failed on ${path}: database disk image is malformed (SQLITE_CORRUPT)`,
      details: { path, code: 'SQLITE_CORRUPT', retryable: false },
    });
    await expect(listAll(damaged, 0, 1e15)).rejects.toMatchObject({ code: 'STORE_FAILED' });
    await expect(damaged.place(order('new'))).rejects.toMatchObject({
      code: 'STORE_FAILED',
      message: expect.stringContaining(`paper exchange place failed on ${path}`),
    });
    await damaged.close();
  });
});
