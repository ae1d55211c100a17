// HttpExchange against the exchange simulator over loopback: request signing and its rejection,
// idempotency by client order id under every injected fault, Retry-After, partial fills, the
// kill switch, the rate limit, persistence across a simulator restart, and listOrders.
// Faults are keyed rules (per operation and client order id), never random.
import { inspect } from 'node:util';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AuthHeaders,
  createHttpExchange,
  signingInput,
  signRequest,
  startExchangeSimulator,
  type ExchangeSimulator,
  type HttpExchange,
  type HttpExchangeOptions,
  type SimulatorOptions,
} from '@countersign/exchange-gateway';
import { newCredentials, newOrder, sharedClock, tempDir } from './support/exchange.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

async function setup(
  sim: Partial<SimulatorOptions> = {},
  client: Partial<HttpExchangeOptions> = {},
): Promise<{ sim: ExchangeSimulator; ex: HttpExchange; secret: string }> {
  const { credentials, secret } = newCredentials();
  const s = await startExchangeSimulator({ credentials: [credentials], ...sim });
  open.push(s);
  const ex = createHttpExchange({
    url: s.url,
    credentials,
    requestTimeoutMs: 2000,
    deadlineMs: 5000,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    ...client,
  });
  open.push(ex);
  return { sim: s, ex, secret };
}

async function failure(p: Promise<unknown>): Promise<Error & { code: string; details: object }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code: string; details: object };
  }
  throw new Error('expected a failure');
}

describe('signatures', () => {
  it('the simulator rejects a wrong secret and stores nothing', async () => {
    const { sim } = await setup();
    const wrong = createHttpExchange({
      url: sim.url,
      credentials: newCredentials().credentials,
    });
    open.push(wrong);
    const err = await failure(wrong.place(newOrder()));
    expect(err.code).toBe('EXCHANGE_FAILED');
    expect(err.message).toMatch(/HTTP 401 UNKNOWN_API_KEY/);
    expect(sim.orders()).toHaveLength(0);
  });

  it('rejects an expired and a future timestamp (the receive window), stores nothing', async () => {
    const simClock = sharedClock();
    const { credentials } = newCredentials();
    const sim = await startExchangeSimulator({ credentials: [credentials], clock: simClock });
    open.push(sim);
    for (const skew of [-5001, +1001]) {
      const clientClock = { now: () => simClock.now() + skew };
      const ex = createHttpExchange({
        url: sim.url,
        credentials,
        clock: clientClock,
        recvWindowMs: 5000,
      });
      open.push(ex);
      const err = await failure(ex.place(newOrder()));
      expect(err.message).toMatch(/HTTP 401 TIMESTAMP_OUTSIDE_RECV_WINDOW/);
    }
    expect(sim.stats().authRejected).toBe(2);
    expect(sim.orders()).toHaveLength(0);
  });

  it('a signed request replayed with a changed body, or unsigned, is refused (admin calls too)', async () => {
    const { credentials, apiKey } = newCredentials();
    const sim = await startExchangeSimulator({ credentials: [credentials] });
    open.push(sim);
    const send = async (path: string, body: string, signedBody = body) => {
      const ts = String(Date.now());
      const res = await request(`${sim.url}${path}`, {
        method: 'POST',
        body,
        headers: {
          [AuthHeaders.API_KEY]: apiKey,
          [AuthHeaders.TIMESTAMP]: ts,
          [AuthHeaders.SIGNATURE]: signRequest(
            credentials.secret,
            signingInput(ts, 'POST', path, signedBody),
          ),
        },
      });
      return { status: res.statusCode, body: await res.body.text() };
    };
    const rule = JSON.stringify({ op: 'place', fault: { kind: 'error', when: 'before' } });
    expect((await send('/admin/faults', rule, '{}')).status).toBe(401);
    const unsigned = await request(`${sim.url}/admin/faults`, { method: 'POST', body: rule });
    expect(unsigned.statusCode).toBe(401);
    await unsigned.body.dump();
    expect((await send('/admin/faults', rule)).status).toBe(204);
    expect(sim.stats().authRejected).toBe(2);
  });

  it('a request body over 16 KiB is refused with 413 before it is read on', async () => {
    const sim = await startExchangeSimulator({ credentials: [newCredentials().credentials] });
    open.push(sim);
    const res = await request(`${sim.url}/api/v1/orders`, {
      method: 'POST',
      body: 'x'.repeat(17 * 1024),
    });
    expect(res.statusCode).toBe(413);
    expect(await res.body.json()).toMatchObject({ message: 'body too large' });
    expect(sim.orders()).toHaveLength(0);
  });

  it('never puts the secret in an error or in the adapter object', async () => {
    const { sim, ex, secret } = await setup();
    sim.inject({ op: 'get', fault: { kind: 'error', when: 'before' }, times: 10 });
    const err = await failure(ex.getOrder('x'));
    expect(err.code).toBe('EXCHANGE_TIMEOUT');
    const texts = [
      err.message,
      JSON.stringify(err),
      inspect(err, { depth: 10 }),
      inspect(ex, { depth: 10, showHidden: true }),
    ];
    for (const t of texts) expect(t).not.toContain(secret);
  });
});

describe('idempotent by client order id', () => {
  it('placing an order twice gives one order, the second answered by reading it back', async () => {
    const { sim, ex } = await setup();
    const order = newOrder();
    const first = await ex.place(order);
    expect(await ex.place(order)).toEqual(first);
    expect(sim.orders()).toHaveLength(1);
    expect(sim.stats()).toMatchObject({ placed: 1, duplicates: 1 });
  });

  it.each([
    ['a 503 before', { kind: 'error', when: 'before' }],
    ['a 500 after the order was stored', { kind: 'error', when: 'after', status: 500 }],
    ['a reset before', { kind: 'reset', when: 'before' }],
    ['a reset after the order was stored', { kind: 'reset', when: 'after' }],
    ['a 429', { kind: 'rate-limit', retryAfterSec: 0 }],
  ] as const)('retries %s with the same client order id: one order, FILLED', async (_, fault) => {
    const { sim, ex } = await setup();
    const order = newOrder();
    sim.inject({ op: 'place', clientOrderId: order.clientOrderId, fault, times: 2 });
    expect(await ex.place(order)).toEqual({
      status: 'FILLED',
      fills: [{ quantity: '0.015', price: '64000.10' }],
    });
    expect(sim.orders().filter((o) => o.clientOrderId === order.clientOrderId)).toHaveLength(1);
    expect(ex.stats().retries).toBe(2);
  });

  it('honours Retry-After, and gives up as UNKNOWN when it ends after the deadline', async () => {
    const clock = sharedClock();
    const { sim, ex } = await setup(
      { clock },
      { clock, sleep: (ms) => clock.sleep(ms), deadlineMs: 5000 },
    );
    const order = newOrder();
    sim.inject({
      op: 'place',
      clientOrderId: order.clientOrderId,
      fault: { kind: 'rate-limit', retryAfterSec: 2 },
    });
    expect((await ex.place(order)).status).toBe('FILLED');
    expect(clock.slept).toEqual([2000]);
    const late = newOrder();
    sim.inject({
      op: 'place',
      clientOrderId: late.clientOrderId,
      fault: { kind: 'rate-limit', retryAfterSec: 9 },
    });
    expect((await failure(ex.place(late))).code).toBe('EXCHANGE_TIMEOUT');
    expect(clock.slept).toEqual([2000]);
    expect(sim.orders().map((o) => o.clientOrderId)).toEqual([order.clientOrderId]);
  });

  it('no answer in time is UNKNOWN; get by client order id then tells whether it exists', async () => {
    const { sim, ex } = await setup();
    const lost = newOrder();
    const stored = newOrder();
    sim.inject({
      op: 'place',
      clientOrderId: lost.clientOrderId,
      fault: { kind: 'timeout', when: 'before' },
    });
    sim.inject({
      op: 'place',
      clientOrderId: stored.clientOrderId,
      fault: { kind: 'timeout', when: 'after' },
    });
    expect((await failure(ex.place(lost))).code).toBe('EXCHANGE_TIMEOUT');
    expect((await failure(ex.place(stored))).code).toBe('EXCHANGE_TIMEOUT');
    expect(await ex.getOrder(lost.clientOrderId)).toBeUndefined();
    expect(await ex.getOrder(stored.clientOrderId)).toMatchObject({ status: 'FILLED' });
  });

  it('refuses to receipt another order found under our client order id', async () => {
    const { ex } = await setup();
    const order = newOrder();
    await ex.place(order);
    const err = await failure(ex.place({ ...order, txn: { ...order.txn, quantity: '2' } }));
    expect(err.code).toBe('EXCHANGE_FAILED');
    expect(err.message).toMatch(/quantity differs/);
  });

  it('a 400 is the exchange saying no: REJECTED with its reason', async () => {
    const { sim, ex } = await setup();
    const result = await ex.place({ ...newOrder(), account: 'has space' });
    expect(result).toMatchObject({ status: 'REJECTED' });
    expect((result as { reason: string }).reason).toMatch(/^INVALID_REQUEST: account/);
    expect(sim.orders()).toHaveLength(0);
  });
});

describe('partial fills, kill switch, rate limit', () => {
  it('maps partial fills by time in force', async () => {
    const { sim, ex } = await setup({ behaviour: { fillRatio: 0.5 } });
    const half = [{ quantity: '0.0075', price: '64000.10' }];
    expect(await ex.place(newOrder({ timeInForce: 'IOC' }))).toEqual({
      status: 'FILLED',
      fills: half,
    });
    const gtc = newOrder({ timeInForce: 'GTC' });
    expect(await ex.place(gtc)).toEqual({ status: 'FILLED', fills: half });
    expect(await ex.place(newOrder({ timeInForce: 'FOK' }))).toEqual({
      status: 'REJECTED',
      reason: 'FOK_NOT_FILLABLE',
    });
    // Cancelling the resting remainder keeps what traded.
    expect(await ex.cancel(gtc.clientOrderId)).toEqual({ status: 'FILLED', fills: half });
    expect(sim.orders().find((o) => o.clientOrderId === gtc.clientOrderId)?.status).toBe(
      'CANCELED',
    );
    expect(await ex.cancel('unknown-id')).toBeUndefined();
    await sim.configure({ fillRatio: 0 });
    expect(await ex.place(newOrder({ timeInForce: 'IOC' }))).toEqual({
      status: 'REJECTED',
      reason: 'IOC_NO_LIQUIDITY',
    });
  });

  it('the kill switch cancels open orders and rejects new ones', async () => {
    const { sim, ex } = await setup({ behaviour: { fillRatio: 0.5 } });
    const resting = newOrder();
    await ex.place(resting);
    await sim.configure({ killSwitch: true });
    expect(sim.orders().find((o) => o.clientOrderId === resting.clientOrderId)).toMatchObject({
      status: 'CANCELED',
      rejectReason: 'TRADING_HALTED',
      executedQuantity: '0.0075',
    });
    expect(await ex.place(newOrder())).toEqual({ status: 'REJECTED', reason: 'TRADING_HALTED' });
  });

  it('over the rate limit, the client waits Retry-After and every order gets through once', async () => {
    const clock = sharedClock();
    const { sim, ex } = await setup(
      { clock, behaviour: { rateLimitPerSec: 2 } },
      { clock, sleep: (ms) => clock.sleep(ms), deadlineMs: 10_000 },
    );
    const orders = Array.from({ length: 5 }, () => newOrder());
    for (const o of orders) expect((await ex.place(o)).status).toBe('FILLED');
    expect(sim.stats().rateLimited).toBeGreaterThan(0);
    expect(ex.stats().rateLimited).toBe(sim.stats().rateLimited);
    expect(clock.slept.every((ms) => ms === 1000)).toBe(true);
    expect(sim.orders()).toHaveLength(5);
  });
});

describe('persistence and listing', () => {
  it('a restarted simulator still knows every order (reconciliation after a restart)', async () => {
    const dbPath = join(tempDir('sim-db-'), 'orders.sqlite');
    const { credentials } = newCredentials();
    const first = await startExchangeSimulator({ credentials: [credentials], dbPath });
    const ex = createHttpExchange({ url: first.url, credentials, requestTimeoutMs: 1000 });
    const order = newOrder();
    first.inject({
      op: 'place',
      clientOrderId: order.clientOrderId,
      fault: { kind: 'timeout', when: 'after' },
    });
    expect((await failure(ex.place(order))).code).toBe('EXCHANGE_TIMEOUT');
    await ex.close();
    await first.close();

    const second = await startExchangeSimulator({ credentials: [credentials], dbPath });
    open.push(second);
    const again = createHttpExchange({ url: second.url, credentials });
    open.push(again);
    expect(await again.getOrder(order.clientOrderId)).toMatchObject({ status: 'FILLED' });
    expect(await again.place(order)).toMatchObject({ status: 'FILLED' });
    expect(second.orders()).toHaveLength(1);
    expect(second.stats().duplicates).toBe(1);
  });

  it('lists the orders placed in [from, to), every page, with status and fills', async () => {
    const clock = sharedClock();
    const { ex } = await setup({ clock, behaviour: { fillRatio: 0 } }, { clock, listPageSize: 2 });
    const placed = [];
    for (let i = 0; i < 7; i += 1) {
      const o = newOrder({ timeInForce: i % 2 === 0 ? 'GTC' : 'IOC' }, `acct-${i}`);
      await ex.place(o);
      placed.push({ id: o.clientOrderId, at: clock.now(), account: o.account });
      clock.advance(1000);
    }
    const listed = await ex.listOrders({ from: placed[1]!.at, to: placed[6]!.at });
    expect(listed.map((o) => o.clientOrderId)).toEqual(placed.slice(1, 6).map((p) => p.id));
    expect(listed[0]).toEqual({
      clientOrderId: placed[1]!.id,
      account: 'acct-1',
      placedAt: placed[1]!.at,
      status: 'REJECTED',
      fills: [],
      reason: 'IOC_NO_LIQUIDITY',
    });
    expect(listed[1]).toMatchObject({ status: 'FILLED', fills: [] }); // a resting GTC
  });
});
