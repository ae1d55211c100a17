import { describe, expect, it } from 'vitest';
import type { ApiOrder } from '../exchange-api.ts';
import { apiOrder } from '../testing/api-order.ts';
import { openSimOrderStore } from './sim-orders.ts';

const order = (id: string, createdAt: number, over: Partial<ApiOrder> = {}): ApiOrder =>
  apiOrder({ clientOrderId: id, createdAt, updatedAt: createdAt, ...over });

describe('simulator order store', () => {
  it('keeps one order per client order id and key; the second insert returns the first', async () => {
    const store = openSimOrderStore(undefined);
    const first = await store.insertIfAbsent('k', order('a', 1));
    const again = await store.insertIfAbsent('k', order('a', 2, { side: 'sell' }));
    const otherKey = await store.insertIfAbsent('k2', order('a', 3));
    expect(first.created).toBe(true);
    expect(again).toEqual({ created: false, order: order('a', 1) });
    expect(otherKey.created).toBe(true);
    expect(store.all()).toHaveLength(2);
    store.close();
  });

  it('lists [from, to) oldest first across pages, and counts executions as the gateway would', async () => {
    const store = openSimOrderStore(undefined);
    for (let i = 0; i < 25; i += 1) {
      await store.insertIfAbsent(
        'k',
        order(
          `o${i}`,
          100 + Math.floor(i / 2),
          i % 5 === 0 ? { status: 'REJECTED', fills: [], executedQuantity: '0' } : {},
        ),
      );
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = store.list('k', { from: 101, to: 110, limit: 4, ...(cursor ? { cursor } : {}) });
      seen.push(...page.orders.map((o) => o.clientOrderId));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 18 }, (_, i) => `o${i + 2}`));
    expect(store.executions()).toBe(20);
    store.close();
  });
});
