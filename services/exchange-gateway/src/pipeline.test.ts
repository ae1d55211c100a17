import { describe, expect, it } from 'vitest';
import { CountersignError, GENESIS_PREV } from '@countersign/contracts';
import type { ReceiptEventDetail } from '@countersign/contracts';
import type { NonceStore } from '@countersign/replay-guard';
import type { Signer } from '@countersign/signing';
import { staticKeys, VerificationError } from '@countersign/verifier';
import {
  createHarness,
  defaultPolicy,
  fakeBus,
  fakeNonceStore,
  newEs256Signer,
  REQUESTER_ID,
} from './testing/index.ts';
import type { FakeBus } from './testing/index.ts';
import { createPaperExchange } from './paper-exchange.ts';
import { sha256B64u } from './receipts.ts';

function receiptsOf(events: readonly ReceiptEventDetail[]): string[] {
  return [...new Set(events.map((e) => e.receipt))];
}

describe('processMessage: happy path', () => {
  it('executes once and emits one signed EXECUTED receipt at seq 1 of the genesis', async () => {
    const h = await createHarness();
    const token = await h.token();
    const m = h.message(token);
    const res = await h.processor.process(m);
    expect(res).toMatchObject({ action: 'delete', outcome: 'EXECUTED', republished: false });
    const events = (h.bus as FakeBus).events;
    expect(events).toHaveLength(1);
    expect(events[0]!.request).toBe(token);
    expect(events[0]!.messageId).toBe(m.messageId);
    const claims = await h.verifyReceipt(events[0]!.receipt);
    expect(claims).toMatchObject({
      v: 1,
      iss: 'gw-test',
      outcome: 'EXECUTED',
      messageId: m.messageId,
      stream: 'gw-test/0',
      seq: 1,
      prev: GENESIS_PREV,
      fills: [{ quantity: '0.015', price: '64000.10' }],
    });
    expect(claims.req.sha256).toBe(sha256B64u(token));
    expect(claims.req.iss).toBe(REQUESTER_ID);
    expect(claims.req.sub).toBe('acct-1');
    expect(claims.policy?.maxNotional).toBe('100000');
    expect(claims.policy?.version).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(h.exchange.executions?.()).toBe(1);
  });

  it('chains receipts: seq has no gap and prev is the sha256 of the previous receipt', async () => {
    const h = await createHarness();
    for (let i = 0; i < 5; i += 1) await h.processor.process(h.message(await h.token()));
    const receipts = receiptsOf((h.bus as FakeBus).events);
    const claims = await Promise.all(receipts.map((r) => h.verifyReceipt(r)));
    expect(claims.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5]);
    claims.forEach((c, i) =>
      expect(c.prev).toBe(i === 0 ? GENESIS_PREV : sha256B64u(receipts[i - 1]!)),
    );
  });

  it('maps accounts to partitions: one account, one stream', async () => {
    const h = await createHarness({ partitions: 16 });
    const streams = new Map<string, Set<string>>();
    for (const sub of ['acct-1', 'acct-2', 'acct-3', 'acct-4', 'acct-1', 'acct-2']) {
      await h.processor.process(h.message(await h.token({ sub })));
      const last = (h.bus as FakeBus).events.at(-1)!;
      const c = await h.verifyReceipt(last.receipt);
      streams.set(sub, (streams.get(sub) ?? new Set()).add(c.stream));
    }
    for (const s of streams.values()) expect(s.size).toBe(1);
  });
});

describe('prefetch', () => {
  async function counted() {
    const h = await createHarness();
    let calls = 0;
    const verifier = {
      verify: (token: string) => {
        calls += 1;
        return h.verifier.verify(token);
      },
    };
    h.restart({ verifier });
    return { h, calls: () => calls };
  }

  it('verifies a batch up front; process() then uses those results, verifying nothing again', async () => {
    const { h, calls } = await counted();
    const messages = [
      h.message(await h.token({ sub: 'acct-1' })),
      h.message(await h.token({ sub: 'acct-2' })),
    ];
    const [good, tampered] = messages;
    const forged = { ...tampered!, body: `${tampered!.body.slice(0, -4)}AAAA` };
    h.processor.prefetch([good!, forged]);
    expect(calls()).toBe(2);
    expect(await h.processor.process(good!)).toMatchObject({ outcome: 'EXECUTED' });
    // A prefetched failure is the same rejection, with its code.
    expect(await h.processor.process(forged)).toMatchObject({
      outcome: 'REJECTED',
      reason: 'BAD_SIGNATURE',
    });
    expect(calls()).toBe(2);
  });

  it('a verifier that throws instead of rejecting: prefetch goes on, the message is REJECTED', async () => {
    const h = await createHarness();
    h.restart({
      verifier: {
        verify: () => {
          throw new VerificationError('MALFORMED', 'not a JWS');
        },
      },
    });
    const m = h.message('not-a-token');
    expect(() => h.processor.prefetch([m])).not.toThrow();
    expect(await h.processor.process(m)).toMatchObject({
      outcome: 'REJECTED',
      reason: 'MALFORMED',
    });
  });

  it('a prefetched result older than 1 s is verified again; another delivery is never reused', async () => {
    const { h, calls } = await counted();
    const m = h.message(await h.token());
    h.processor.prefetch([m]);
    h.clock.advance(1001);
    await h.processor.process(m);
    expect(calls()).toBe(2);
    // The prefetch belongs to one delivery (its receipt handle), not to the message.
    const next = h.message(await h.token());
    h.processor.prefetch([next]);
    await h.processor.process({ ...next, receiptHandle: 'another-delivery', receiveCount: 2 });
    expect(calls()).toBe(4);
  });
});

describe('processMessage: redelivery and replay', () => {
  it('same message delivered 50 times: one execution, one receipt id', async () => {
    const h = await createHarness();
    const m = h.message(await h.token());
    const results = [];
    for (let i = 1; i <= 50; i += 1)
      results.push(await h.processor.process({ ...m, receiveCount: Math.min(i, 4) }));
    expect(new Set(results.map((r) => (r.action === 'delete' ? r.receiptId : 'x'))).size).toBe(1);
    expect(results.filter((r) => r.action === 'delete' && r.republished)).toHaveLength(49);
    expect(receiptsOf((h.bus as FakeBus).events)).toHaveLength(1);
    expect(h.exchange.executions?.()).toBe(1);
    expect((await h.nonceStore.head('gw-test/0')).seq).toBe(1);
  });

  it('the same token in another message after a restart is REPLAYED (keyed by that message)', async () => {
    const h = await createHarness();
    const token = await h.token();
    await h.processor.process(h.message(token));
    h.restart();
    const other = h.message(token);
    const res = await h.processor.process(other);
    expect(res).toMatchObject({ action: 'delete', outcome: 'REJECTED', reason: 'REPLAYED' });
    const c = await h.verifyReceipt((h.bus as FakeBus).events.at(-1)!.receipt);
    expect(c.req.iss).toBe(REQUESTER_ID);
    expect(c.messageId).toBe(other.messageId);
    expect(await h.nonceStore.get(`msg#${other.messageId}`)).toMatchObject({ state: 'COMPLETED' });
    // Its redelivery re-publishes the same REPLAYED receipt.
    const again = await h.processor.process({ ...other, receiveCount: 2 });
    expect(again).toMatchObject({ action: 'delete', reason: 'REPLAYED', republished: true });
    expect(h.exchange.executions?.()).toBe(1);
  });

  it('leaves a message whose key is IN_PROGRESS under a live lease', async () => {
    const store = fakeNonceStore();
    const h = await createHarness({ nonceStore: store });
    const token = await h.token();
    const [, payload] = token.split('.');
    const { iss, jti } = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as {
      iss: string;
      jti: string;
    };
    await store.claim(`${iss}#${jti}`, {
      expiresAt: h.clock.now() + 60_000,
      leaseMs: 8000,
      owner: 'other',
      now: h.clock.now(),
    });
    const res = await h.processor.process(h.message(token));
    expect(res).toEqual({ action: 'leave', why: 'IN_PROGRESS', visibilitySec: 8 });
    expect(h.exchange.executions?.()).toBe(0);
  });
});

describe('processMessage: last receive', () => {
  it('waits for a foreign lease on the last receive, then takes over instead of leaving the message unanswered', async () => {
    let offset = 0;
    const clock = {
      now: () => Date.now() + offset,
      set: () => undefined,
      advance: (ms: number) => void (offset += ms),
    };
    const store = fakeNonceStore();
    const h = await createHarness({ nonceStore: store, clock, maxReceives: 3 });
    const token = await h.token();
    const { iss, jti } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      iss: string;
      jti: string;
    };
    await store.claim(`${iss}#${jti}`, {
      expiresAt: clock.now() + 60_000,
      leaseMs: 150,
      owner: 'dead',
      now: clock.now(),
    });
    expect(await h.processor.process(h.message(token, { receiveCount: 2 }))).toMatchObject({
      action: 'leave',
    });
    const started = Date.now();
    const res = await h.processor.process(h.message(token, { receiveCount: 3 }));
    expect(res).toMatchObject({ action: 'delete', outcome: 'EXECUTED' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });
});

describe('processMessage: verification failures get a REJECTED receipt keyed by message id', () => {
  const cases: [
    string,
    (h: Awaited<ReturnType<typeof createHarness>>, other: Signer) => Promise<string>,
    string,
  ][] = [
    [
      'tampered payload',
      async (h) => {
        const [a, b, c] = (await h.token()).split('.');
        const claims = JSON.parse(Buffer.from(b!, 'base64url').toString()) as {
          txn: { quantity: string };
        };
        claims.txn.quantity = '1000';
        return `${a}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${c}`;
      },
      'BAD_SIGNATURE',
    ],
    ['unknown kid', (h, other) => h.token({}, other), 'UNKNOWN_KID'],
    [
      'expired',
      (h) => {
        const iat = Math.floor(h.clock.now() / 1000) - 200;
        return h.token({ iat, nbf: iat, exp: iat + 60 });
      },
      'EXPIRED',
    ],
    ['another gateway (aud)', (h) => h.token({ aud: 'gw-other' }), 'AUDIENCE_MISMATCH'],
    ['garbage', () => Promise.resolve('not a token'), 'MALFORMED'],
  ];
  for (const [name, make, code] of cases) {
    it(`${name} → ${code}`, async () => {
      const h = await createHarness();
      const token = await make(h, await newEs256Signer());
      const m = h.message(token);
      const res = await h.processor.process(m);
      expect(res).toMatchObject({ action: 'delete', outcome: 'REJECTED', reason: code });
      const event = (h.bus as FakeBus).events[0]!;
      expect(event.request).toBe(token);
      const c = await h.verifyReceipt(event.receipt);
      expect(c.req).toEqual({ jti: null, iss: null, sub: null, sha256: sha256B64u(token) });
      expect(h.exchange.executions?.()).toBe(0);
      const again = await h.processor.process({ ...m, receiveCount: 2 });
      expect(again).toMatchObject({
        receiptId: (res as { receiptId: string }).receiptId,
        republished: true,
      });
    });
  }

  it('an oversized body → TOKEN_TOO_LARGE without the body in the event', async () => {
    const h = await createHarness();
    const res = await h.processor.process(h.message('x'.repeat(9000)));
    expect(res).toMatchObject({ outcome: 'REJECTED', reason: 'TOKEN_TOO_LARGE' });
    expect((h.bus as FakeBus).events[0]!.request).toBeNull();
  });

  it('a redelivery after the token expired re-publishes the stored receipt, not a new one', async () => {
    const h = await createHarness();
    const m = h.message(await h.token());
    const first = await h.processor.process(m);
    h.clock.advance(10 * 60_000);
    const again = await h.processor.process({ ...m, receiveCount: 2 });
    expect(again).toMatchObject({
      receiptId: (first as { receiptId: string }).receiptId,
      republished: true,
      outcome: 'EXECUTED',
    });
  });
});

describe('processMessage: authorization', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['account', { sub: 'acct-9' }, 'ACCOUNT_NOT_ALLOWED'],
    ['symbol', { txn: { symbol: 'DOGE-USD' } }, 'SYMBOL_NOT_ALLOWED'],
    ['notional', { txn: { quantity: '2', limitPrice: '50000.00000001' } }, 'NOTIONAL_TOO_HIGH'],
  ];
  for (const [name, over, reason] of cases) {
    it(`${name} → ${reason}, nothing executed`, async () => {
      const h = await createHarness();
      const res = await h.processor.process(h.message(await h.token(over)));
      expect(res).toMatchObject({ action: 'delete', outcome: 'REJECTED', reason });
      expect(h.exchange.executions?.()).toBe(0);
      const c = await h.verifyReceipt((h.bus as FakeBus).events[0]!.receipt);
      expect(c.policy).toBeUndefined();
      expect(c.req.jti).not.toBeNull();
    });
  }

  it('side → SIDE_NOT_ALLOWED', async () => {
    const h = await createHarness({ policies: (s) => [defaultPolicy(s, { sides: ['buy'] })] });
    const res = await h.processor.process(h.message(await h.token({ txn: { side: 'sell' } })));
    expect(res).toMatchObject({ outcome: 'REJECTED', reason: 'SIDE_NOT_ALLOWED' });
  });

  it('exactly at max notional is allowed (exact decimals)', async () => {
    const h = await createHarness({
      policies: (s) => [defaultPolicy(s, { maxNotional: '960.0015' })],
    });
    const res = await h.processor.process(
      h.message(await h.token({ txn: { quantity: '0.015', limitPrice: '64000.10' } })),
    );
    expect(res).toMatchObject({ outcome: 'EXECUTED' });
  });

  it('rate limit per account per minute → RATE_LIMITED, then allowed again after the window', async () => {
    const h = await createHarness({
      policies: (s) => [defaultPolicy(s, { maxOrdersPerMinute: 2 })],
    });
    const outcomes = [];
    for (let i = 0; i < 3; i += 1)
      outcomes.push(await h.processor.process(h.message(await h.token())));
    expect(outcomes.map((o) => (o as { reason?: string }).reason ?? 'ok')).toEqual([
      'ok',
      'ok',
      'RATE_LIMITED',
    ]);
    expect(await h.processor.process(h.message(await h.token({ sub: 'acct-2' })))).toMatchObject({
      outcome: 'EXECUTED',
    });
    h.clock.advance(61_000);
    expect(await h.processor.process(h.message(await h.token()))).toMatchObject({
      outcome: 'EXECUTED',
    });
  });

  it('a verified issuer without a policy → NO_POLICY', async () => {
    const stranger = await newEs256Signer();
    const h = await createHarness({
      extraKeys: staticKeys({ keys: [stranger.publicJwk] }, { issuer: 'req-stranger' }),
      extraIssuers: ['req-stranger'],
    });
    const res = await h.processor.process(
      h.message(await h.token({ iss: 'req-stranger' }, stranger)),
    );
    expect(res).toMatchObject({ outcome: 'REJECTED', reason: 'NO_POLICY' });
  });

  it("a requester's key does not verify another requester's tokens (keys bound to issuer)", async () => {
    const other = await newEs256Signer();
    const h = await createHarness({
      policies: (s) => [defaultPolicy(s), defaultPolicy(other, { id: 'req-other' })],
    });
    // Signed with req-test's key but claiming to be req-other.
    const res = await h.processor.process(h.message(await h.token({ iss: 'req-other' })));
    expect(res).toMatchObject({ outcome: 'REJECTED' });
    expect((res as { reason: string }).reason).not.toBe('EXECUTED');
    expect(h.exchange.executions?.()).toBe(0);
  });
});

describe('processMessage: faults', () => {
  it('crash after execute, before complete: a restarted gateway reconciles, one execution, one receipt', async () => {
    const store = fakeNonceStore();
    let crash = true;
    const crashing: NonceStore = {
      ...store,
      complete: (key, opts) => {
        if (crash) return Promise.reject(new Error('process killed'));
        return store.complete(key, opts);
      },
    };
    const h = await createHarness({ nonceStore: crashing, leaseMs: 5000 });
    const m = h.message(await h.token());
    await expect(h.processor.process(m)).rejects.toThrow('process killed');
    expect(h.exchange.executions?.()).toBe(1);
    crash = false;
    h.restart();
    // Before the lease expires the message is left alone.
    expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      action: 'leave',
      why: 'IN_PROGRESS',
    });
    h.clock.advance(5001);
    const res = await h.processor.process({ ...m, receiveCount: 3 });
    expect(res).toMatchObject({ action: 'delete', outcome: 'EXECUTED', republished: false });
    expect(h.exchange.executions?.()).toBe(1);
    expect(h.exchange.placeCalls?.()).toBe(1); // reconciled with getOrder, not placed again
    expect(receiptsOf((h.bus as FakeBus).events)).toHaveLength(1);
    expect((await h.nonceStore.head('gw-test/0')).seq).toBe(1);
  });

  it('crash after complete, before publish: the redelivery re-publishes the stored receipt, no new seq', async () => {
    const bus = fakeBus();
    let fail = true;
    const h = await createHarness({
      bus: {
        publish: (e) =>
          fail ? Promise.reject(new CountersignError('BUS_FAILED', 'down')) : bus.publish(e),
      },
    });
    const m = h.message(await h.token());
    await expect(h.processor.process(m)).rejects.toMatchObject({ code: 'BUS_FAILED' });
    fail = false;
    h.restart();
    const res = await h.processor.process({ ...m, receiveCount: 2 });
    expect(res).toMatchObject({ action: 'delete', outcome: 'EXECUTED', republished: true });
    expect(bus.events).toHaveLength(1);
    expect((await h.nonceStore.head('gw-test/0')).seq).toBe(1);
    expect(h.exchange.executions?.()).toBe(1);
  });

  it('signer throttled (ThrottlingException) on the receipt: retried, receipt emitted', async () => {
    const real = await newEs256Signer();
    let throttles = 2;
    const throttled: Signer = {
      alg: real.alg,
      kid: real.kid,
      publicJwk: real.publicJwk,
      sign: (input) => {
        if (throttles-- > 0)
          return Promise.reject(
            Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }),
          );
        return real.sign(input);
      },
    };
    const h = await createHarness({ gatewaySigner: throttled });
    const res = await h.processor.process(h.message(await h.token()));
    expect(res).toMatchObject({ action: 'delete', outcome: 'EXECUTED' });
    expect(throttles).toBe(-1);
    expect(h.exchange.executions?.()).toBe(1);
  });

  it('signer down beyond the retries: the message is kept and later completes once', async () => {
    const real = await newEs256Signer();
    let down = true;
    const flaky: Signer = {
      ...real,
      sign: (i) => (down ? Promise.reject(new Error('ThrottlingException')) : real.sign(i)),
    };
    const h = await createHarness({
      gatewaySigner: flaky,
      signRetry: { attempts: 3, baseDelayMs: 1 },
      leaseMs: 1000,
    });
    const m = h.message(await h.token());
    await expect(h.processor.process(m)).rejects.toThrow();
    down = false;
    h.clock.advance(1001);
    expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      outcome: 'EXECUTED',
    });
    expect(h.exchange.placeCalls?.()).toBe(1);
  });

  it('exchange rejects → FAILED EXCHANGE_REJECTED', async () => {
    const h = await createHarness();
    h.exchange.rejectIf?.(() => 'INSUFFICIENT_FUNDS');
    const res = await h.processor.process(h.message(await h.token()));
    expect(res).toMatchObject({ outcome: 'FAILED', reason: 'EXCHANGE_REJECTED' });
    const c = await h.verifyReceipt((h.bus as FakeBus).events[0]!.receipt);
    expect(c.detail).toBe('INSUFFICIENT_FUNDS');
    expect(c.fills).toEqual([]);
  });

  it('exchange timeout → UNKNOWN, then a follow-up receipt resolving it; one execution', async () => {
    const exchange = createPaperExchange();
    const h = await createHarness({ exchange });
    const token = await h.token();
    exchange.timeoutOnce(h.orderId(token));
    const m = h.message(token);
    const first = await h.processor.process(m);
    expect(first).toMatchObject({ action: 'leave', why: 'UNRESOLVED' });
    const events = (h.bus as FakeBus).events;
    const unknown = await h.verifyReceipt(events[0]!.receipt);
    expect(unknown).toMatchObject({ outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT', seq: 1 });
    expect(h.processor.pendingUnknown()).toBe(1);
    expect(await h.processor.reconcileUnknown()).toBe(1);
    const follow = await h.verifyReceipt(events[1]!.receipt);
    expect(follow).toMatchObject({
      outcome: 'EXECUTED',
      resolves: unknown.jti,
      seq: 2,
      prev: sha256B64u(events[0]!.receipt),
    });
    expect(follow.policy).toEqual(unknown.policy);
    // The kept message comes back: both receipts re-published, nothing new, then deleted.
    const again = await h.processor.process({ ...m, receiveCount: 2 });
    expect(again).toMatchObject({ action: 'delete', receiptId: follow.jti, republished: true });
    expect(receiptsOf(events)).toHaveLength(2);
    expect(exchange.executions()).toBe(1);
  });

  it('exchange timeout resolved on redelivery by a restarted gateway (pending list lost)', async () => {
    const exchange = createPaperExchange();
    const h = await createHarness({ exchange });
    const token = await h.token();
    exchange.timeoutOnce(h.orderId(token));
    const m = h.message(token);
    await h.processor.process(m);
    h.restart();
    h.clock.advance(10 * 60_000); // the token has expired by now
    const res = await h.processor.process({ ...m, receiveCount: 2 });
    expect(res).toMatchObject({ action: 'delete', outcome: 'EXECUTED', republished: false });
    expect(receiptsOf((h.bus as FakeBus).events)).toHaveLength(2);
    expect(exchange.executions()).toBe(1);
  });

  it('poison message on its last receive → REJECTED POISON_MESSAGE receipt, left for the DLQ', async () => {
    const h = await createHarness({ maxReceives: 3 });
    const exchange = h.exchange as ReturnType<typeof createPaperExchange>;
    const m = h.message(await h.token());
    const boom = { ...exchange, place: () => Promise.reject(new Error('boom')) };
    h.restart({ exchange: boom });
    await expect(h.processor.process(m)).rejects.toThrow('boom');
    h.clock.advance(20_000);
    await expect(h.processor.process({ ...m, receiveCount: 2 })).rejects.toThrow('boom');
    h.clock.advance(20_000);
    const res = await h.processor.process({ ...m, receiveCount: 3 });
    expect(res).toEqual({ action: 'leave', why: 'POISON' });
    const c = await h.verifyReceipt((h.bus as FakeBus).events[0]!.receipt);
    expect(c).toMatchObject({
      outcome: 'REJECTED',
      reason: 'POISON_MESSAGE',
      messageId: m.messageId,
    });
  });

  it('a message kept from running by its FIFO group: nothing before its last receive; on it, REJECTED POISON_MESSAGE (or what exists), left for the DLQ', async () => {
    const h = await createHarness({ maxReceives: 3 });
    const m = h.message(await h.token());
    await h.processor.blocked({ ...m, receiveCount: 2 });
    expect((h.bus as FakeBus).events).toHaveLength(0);
    await h.processor.blocked({ ...m, receiveCount: 3 });
    const [event] = (h.bus as FakeBus).events;
    expect(await h.verifyReceipt(event!.receipt)).toMatchObject({
      outcome: 'REJECTED',
      reason: 'POISON_MESSAGE',
      messageId: m.messageId,
      detail: expect.stringContaining('FIFO group') as unknown,
      req: { jti: null },
    });
    expect(h.exchange.executions?.()).toBe(0);
    // Handled before (its delete was lost): the stored receipt is re-published, no second one.
    const ran = h.message(await h.token());
    await h.processor.process(ran);
    await h.processor.blocked({ ...ran, receiveCount: 3 });
    const receipts = receiptsOf((h.bus as FakeBus).events);
    expect(receipts).toHaveLength(2);
    expect((h.bus as FakeBus).events).toHaveLength(3);
  });

  it('poison after the receipt was stored: re-publishes it, never a second receipt', async () => {
    const bus = fakeBus();
    let fail = true;
    const h = await createHarness({
      maxReceives: 2,
      bus: { publish: (e) => (fail ? Promise.reject(new Error('bus down')) : bus.publish(e)) },
    });
    const m = h.message(await h.token());
    await expect(h.processor.process(m)).rejects.toThrow('bus down');
    await expect(h.processor.process({ ...m, receiveCount: 2 })).resolves.toEqual({
      action: 'leave',
      why: 'POISON',
    });
    fail = false;
    await h.processor.process({ ...m, receiveCount: 2 });
    expect(receiptsOf(bus.events)).toHaveLength(1);
    expect((await h.verifyReceipt(bus.events[0]!.receipt)).outcome).toBe('EXECUTED');
  });

  it('two gateway processes on one stream: CHAIN_CONFLICT is retried, seq stays gap-free', async () => {
    const h = await createHarness();
    const a = h.processor;
    const b = h.restart();
    await a.process(h.message(await h.token()));
    await b.process(h.message(await h.token())); // b reads head 1 → 2
    await a.process(h.message(await h.token())); // a's cached head is stale → conflict → 3
    const receipts = receiptsOf((h.bus as FakeBus).events);
    const claims = await Promise.all(receipts.map((r) => h.verifyReceipt(r)));
    expect(claims.map((c) => c.seq)).toEqual([1, 2, 3]);
    expect(claims[2]!.prev).toBe(sha256B64u(receipts[1]!));
  });
});
