// Exactly once through the real gateway pipeline (harness: real verifier, signer, chain writer,
// SQLite nonce store) on HttpExchange against the exchange simulator, with faults injected by
// keyed rules at the exact request: 5xx, resets and 429s before and after the order is stored,
// requests never answered, a request that arrives after the gateway gave up on it, and restarts
// of the gateway and of the simulator. Each time: one order per request at the exchange, every
// UNKNOWN receipt resolved by exactly one follow-up, and the receipted fills are the exchange's.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clientOrderIdOf, type ReceiptClaims, type RequestClaims } from '@countersign/contracts';
import { createSqliteNonceStore } from '@countersign/replay-guard';
import {
  createHttpExchange,
  settlementOf,
  startExchangeSimulator,
  type ExchangeCredentials,
  type ExchangeSimulator,
  type HttpExchange,
  type SimFault,
} from '@countersign/exchange-gateway';
import {
  createHarness,
  fakeClock,
  type FakeBus,
  type Harness,
} from '@countersign/exchange-gateway/testing';
import { newCredentials, tempDir } from './support/exchange.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

interface Rig {
  readonly h: Harness;
  sim: ExchangeSimulator;
  readonly exchange: HttpExchange;
  readonly credentials: ExchangeCredentials;
  readonly dbPath: string;
  /** The client order id the pipeline sends for a request. */
  readonly idOf: (claims: Pick<RequestClaims, 'iss' | 'jti'>) => string;
  /** Orders at the exchange before the test's own (the probe). */
  readonly baseline: number;
}

function claimsOf(token: string): RequestClaims {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as RequestClaims;
}

async function rig(): Promise<Rig> {
  const dir = tempDir('exactly-once-');
  const dbPath = join(dir, 'exchange-sim.sqlite');
  const { credentials } = newCredentials();
  const sim = await startExchangeSimulator({ credentials: [credentials], dbPath });
  const exchange = createHttpExchange({
    url: sim.url,
    credentials,
    // Long enough that a loaded machine never turns a normal answer into a timeout; the
    // timeouts below are requests the simulator never answers.
    requestTimeoutMs: 2000,
    deadlineMs: 5000,
    retry: { baseDelayMs: 1, maxDelayMs: 4 },
  });
  const clock = fakeClock();
  const nonceStore = createSqliteNonceStore({ path: join(dir, 'nonces.sqlite'), clock });
  const h = await createHarness({ clock, nonceStore, exchange });
  // The gateway names orders by jti or by clientOrderIdOf(iss, jti) (being switched over): ask
  // the exchange which one a probe order got, and use that rule below.
  const probe = claimsOf(await h.token());
  await h.processor.process(h.message(await h.token({ jti: probe.jti })));
  const got = sim.orders()[0]?.clientOrderId;
  expect([probe.jti, clientOrderIdOf(probe.iss, probe.jti)]).toContain(got);
  const namespaced = got === clientOrderIdOf(probe.iss, probe.jti);
  const r: Rig = {
    h,
    sim,
    exchange,
    credentials,
    dbPath,
    idOf: (c) => (namespaced ? clientOrderIdOf(c.iss, c.jti) : c.jti),
    baseline: 1,
  };
  open.push({ close: () => r.sim.close() }, exchange, nonceStore);
  return r;
}

async function receipts(h: Harness): Promise<ReceiptClaims[]> {
  const events = (h.bus as FakeBus).events;
  const unique = [...new Map(events.map((e) => [e.receipt, e])).keys()];
  return Promise.all(unique.map((t) => h.verifyReceipt(t)));
}

/** Every UNKNOWN has exactly one follow-up, the final outcome of each request is EXECUTED with
 *  the exchange's fills, and the exchange holds exactly one order per request. */
async function expectExactlyOnce(r: Rig, tokens: readonly string[]): Promise<void> {
  const all = (await receipts(r.h)).filter((c) => c.req.jti !== null);
  const byJti = new Map<string, ReceiptClaims[]>();
  for (const c of all) byJti.set(c.req.jti!, [...(byJti.get(c.req.jti!) ?? []), c]);
  const orders = new Map(r.sim.orders().map((o) => [o.clientOrderId, o]));
  expect(orders.size).toBe(r.sim.orders().length);
  expect(r.sim.orders().length).toBe(r.baseline + tokens.length);
  for (const token of tokens) {
    const claims = claimsOf(token);
    const mine = byJti.get(claims.jti) ?? [];
    const unknown = mine.filter((c) => c.outcome === 'UNKNOWN');
    const final = mine.filter((c) => c.outcome !== 'UNKNOWN');
    expect(final).toHaveLength(1);
    expect(unknown.length).toBeLessThanOrEqual(1);
    if (unknown[0]) expect(final[0]!.resolves).toBe(unknown[0].jti);
    else expect(final[0]!.resolves).toBeUndefined();
    const order = orders.get(r.idOf(claims));
    expect(order, `no order for ${claims.jti}`).toBeDefined();
    const settled = settlementOf(order!);
    expect(settled.settled && settled.result.status).toBe('FILLED');
    expect(final[0]).toMatchObject({
      outcome: 'EXECUTED',
      fills: settled.settled && settled.result.status === 'FILLED' ? settled.result.fills : [],
    });
  }
}

/** Reconciles until nothing is pending (each pass asks the exchange by client order id). */
async function reconcileAll(h: Harness, passes = 10): Promise<void> {
  for (let i = 0; i < passes && h.processor.pendingUnknown() > 0; i += 1) {
    await h.processor.reconcileUnknown();
  }
  expect(h.processor.pendingUnknown()).toBe(0);
}

describe('exactly once on HttpExchange + simulator, one fault at a time', () => {
  const retried: [string, SimFault, number][] = [
    ['503 before', { kind: 'error', when: 'before' }, 2],
    ['500 after the order was stored', { kind: 'error', when: 'after', status: 500 }, 2],
    ['reset before', { kind: 'reset', when: 'before' }, 2],
    ['reset after the order was stored', { kind: 'reset', when: 'after' }, 2],
    ['429', { kind: 'rate-limit', retryAfterSec: 0 }, 3],
  ];
  it.each(retried)('%s: retried inside the call, EXECUTED at once', async (_, fault, times) => {
    const r = await rig();
    const token = await r.h.token({ sub: 'acct-2' });
    r.sim.inject({ op: 'place', clientOrderId: r.idOf(claimsOf(token)), fault, times });
    const res = await r.h.processor.process(r.h.message(token, { groupId: 'acct-2' }));
    expect(res).toMatchObject({ action: 'delete', outcome: 'EXECUTED' });
    await expectExactlyOnce(r, [token]);
  });

  const unknown: [string, SimFault, number][] = [
    ['no answer, order never stored', { kind: 'timeout', when: 'before' }, 1],
    ['no answer, order stored', { kind: 'timeout', when: 'after' }, 1],
    [
      '5xx after the order was stored, more times than the retries',
      { kind: 'error', when: 'after' },
      6,
    ],
    ['resets before, more times than the retries', { kind: 'reset', when: 'before' }, 6],
  ];
  it.each(unknown)(
    '%s: UNKNOWN, then one follow-up from get-by-client-order-id',
    async (_, fault, times) => {
      const r = await rig();
      const token = await r.h.token();
      r.sim.inject({ op: 'place', clientOrderId: r.idOf(claimsOf(token)), fault, times });
      const res = await r.h.processor.process(r.h.message(token));
      expect(res).toMatchObject({ action: 'leave', why: 'UNRESOLVED' });
      const [, first] = await receipts(r.h);
      expect(first).toMatchObject({ outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT' });
      await reconcileAll(r.h);
      await expectExactlyOnce(r, [token]);
    },
  );

  it('a place that reaches the exchange after the gateway gave up finds the order placed (409)', async () => {
    const r = await rig();
    const token = await r.h.token();
    const id = r.idOf(claimsOf(token));
    let release!: () => void;
    const until = new Promise<void>((resolve) => (release = resolve));
    r.sim.inject({ op: 'place', clientOrderId: id, fault: { kind: 'hold', until } });
    const m = r.h.message(token);
    expect(await r.h.processor.process(m)).toMatchObject({ action: 'leave', why: 'UNRESOLVED' });
    await reconcileAll(r.h); // get: not found → placed again, same id → EXECUTED follow-up
    release(); // the first request arrives now, and meets the order placed meanwhile
    for (let i = 0; i < 200 && r.sim.stats().duplicates === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(r.sim.stats().duplicates).toBe(1);
    await expectExactlyOnce(r, [token]);
    // The kept message comes back: stored receipts re-published, nothing placed.
    const again = await r.h.processor.process({ ...m, receiveCount: 2 });
    expect(again).toMatchObject({ action: 'delete', republished: true });
    expect(r.sim.stats().placed).toBe(r.baseline + 1);
  });

  it('a get that fails during reconciliation leaves the UNKNOWN pending until a later pass', async () => {
    const r = await rig();
    const token = await r.h.token();
    const id = r.idOf(claimsOf(token));
    r.sim.inject({ op: 'place', clientOrderId: id, fault: { kind: 'timeout', when: 'after' } });
    r.sim.inject({ op: 'get', clientOrderId: id, fault: { kind: 'timeout', when: 'before' } });
    await r.h.processor.process(r.h.message(token));
    expect(await r.h.processor.reconcileUnknown()).toBe(0);
    expect(r.h.processor.pendingUnknown()).toBe(1);
    r.h.clock.advance(11_000); // the failed pass's claim on the follow-up expires (lease 10 s)
    expect(await r.h.processor.reconcileUnknown()).toBe(1);
    await expectExactlyOnce(r, [token]);
  });

  it('gateway and simulator both restart: the redelivered message is reconciled, not re-placed', async () => {
    const r = await rig();
    const token = await r.h.token();
    const id = r.idOf(claimsOf(token));
    r.sim.inject({ op: 'place', clientOrderId: id, fault: { kind: 'timeout', when: 'after' } });
    const m = r.h.message(token);
    await r.h.processor.process(m);
    await r.sim.close();
    r.sim = await startExchangeSimulator({ credentials: [r.credentials], dbPath: r.dbPath });
    const exchange = createHttpExchange({ url: r.sim.url, credentials: r.credentials });
    open.push(exchange);
    r.h.restart({ exchange });
    r.h.clock.advance(10 * 60_000); // the token has expired meanwhile: reconciled, never EXPIRED
    const res = await r.h.processor.process({ ...m, receiveCount: 2 });
    expect(res).toMatchObject({ action: 'delete', outcome: 'EXECUTED' });
    expect(r.sim.stats().placed).toBe(0); // the restarted exchange placed nothing new
    await expectExactlyOnce(r, [token]);
  });
});

describe('exactly once under a mixed fault load', () => {
  it('120 requests over 4 accounts, 8 at a time, every kind of fault: one order each', async () => {
    const r = await rig();
    const faults: (readonly [SimFault, number] | undefined)[] = [
      undefined,
      [{ kind: 'error', when: 'after' }, 2],
      [{ kind: 'reset', when: 'after' }, 1],
      [{ kind: 'rate-limit', retryAfterSec: 0 }, 2],
      [{ kind: 'timeout', when: 'before' }, 1],
      [{ kind: 'timeout', when: 'after' }, 1],
      [{ kind: 'error', when: 'before' }, 6],
      [{ kind: 'reset', when: 'before' }, 1],
    ];
    const tokens: string[] = [];
    for (let i = 0; i < 120; i += 1) {
      const account = `acct-${(i % 4) + 1}`;
      const token = await r.h.token({
        sub: account,
        txn: { quantity: `0.${String(i + 1).padStart(3, '0')}` },
      });
      tokens.push(token);
      const f = faults[i % faults.length];
      if (f)
        r.sim.inject({
          op: 'place',
          clientOrderId: r.idOf(claimsOf(token)),
          fault: f[0],
          times: f[1],
        });
    }
    let next = 0;
    let unknowns = 0;
    const lane = async () => {
      while (next < tokens.length) {
        const token = tokens[next++]!;
        const res = await r.h.processor.process(
          r.h.message(token, { groupId: claimsOf(token).sub }),
        );
        if (res.action === 'leave') unknowns += 1;
        else expect(res.outcome).toBe('EXECUTED');
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));
    expect(unknowns).toBe(45); // timeouts (2 of 8) and the 5xx beyond the retries (1 of 8)
    await reconcileAll(r.h);
    await expectExactlyOnce(r, tokens);
    // The faults after the order was stored made the retries meet the stored order.
    expect(r.sim.stats().duplicates).toBeGreaterThanOrEqual(30);
  });
});
