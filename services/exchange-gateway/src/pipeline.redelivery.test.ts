// Issue 13 F1 on the unit harness: once a request was verified and claimed, its fate is decided
// by its nonce record and the exchange, never by re-checking its expiry. Every fault is injected
// at the exact point (a throwing hook), and time moves only on the harness clock.
import { describe, expect, it } from 'vitest';
import { CountersignError, NonceKeys } from '@countersign/contracts';
import type { ReceiptEventDetail } from '@countersign/contracts';
import type { NonceStore } from '@countersign/replay-guard';
import { decodeUnverified } from '@countersign/verifier';
import { placeDeadlineOf } from './exchange-calls.ts';
import { createPaperExchange, type PaperExchange } from './paper-exchange.ts';
import type { Exchange } from './ports.ts';
import { sha256B64u } from './receipts.ts';
import {
  createHarness,
  defaultPolicy,
  fakeNonceStore,
  newEs256Signer,
  REQUESTER_ID,
  type FakeBus,
  type Harness,
} from './testing/index.ts';

/** Past exp (iat + 60 s) + skew (30 s): every token of the test has expired. */
const PAST_EXPIRY_MS = 91_000;

const receiptsOf = (events: readonly ReceiptEventDetail[]) => [
  ...new Set(events.map((e) => e.receipt)),
];
const requestKey = (token: string) => {
  const c = decodeUnverified(token)!;
  return NonceKeys.request(c.iss as string, c.jti as string);
};

/** A nonce store whose complete() of request keys fails while `failing` holds. */
function failingCompletes(err: () => Error) {
  const store = fakeNonceStore();
  const state = { failing: true, failures: 0 };
  const nonceStore: NonceStore = {
    ...store,
    complete: (key, o) => {
      if (state.failing && !key.startsWith('msg#') && !key.startsWith('res#')) {
        state.failures += 1;
        return Promise.reject(err());
      }
      return store.complete(key, o);
    },
  };
  return { store, nonceStore, state };
}

async function allReceipts(h: Harness) {
  return Promise.all(receiptsOf((h.bus as FakeBus).events).map((r) => h.verifyReceipt(r)));
}

describe('F1: a claimed request whose token expired is reconciled, never answered EXPIRED', () => {
  it('crash between exchange.place() and complete(), token expires, redelivery after a restart → one EXECUTED receipt with the fills', async () => {
    const { store, nonceStore, state } = failingCompletes(() => new Error('process killed'));
    const h = await createHarness({ nonceStore });
    const token = await h.token({ txn: { quantity: '0.25' } });
    const m = h.message(token);
    const claimedAt = h.clock.now();
    await expect(h.processor.process(m)).rejects.toThrow('process killed');
    expect(h.exchange.executions?.()).toBe(1); // the order filled at the exchange
    expect(store.records.get(requestKey(token))).toMatchObject({
      state: 'IN_PROGRESS',
      requestSha256: sha256B64u(token),
    });

    state.failing = false;
    h.clock.advance(PAST_EXPIRY_MS); // the outage outlives the token (and the lease)
    h.restart();
    const res = await h.processor.process({ ...m, receiveCount: 2 });
    expect(res).toMatchObject({ action: 'delete', outcome: 'EXECUTED', republished: false });

    const receipts = await allReceipts(h);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({
      outcome: 'EXECUTED',
      messageId: m.messageId,
      fills: [{ quantity: '0.25', price: '64000.10' }],
      req: { iss: REQUESTER_ID, sha256: sha256B64u(token) },
    });
    expect(receipts[0]!.policy?.maxNotional).toBe('100000');
    // Signed after the token expired, the receipt names when the request was verified and
    // claimed (the first delivery, kept by the takeover): an audit checks the request then.
    expect(receipts[0]!.verifiedAt).toBe(Math.floor(claimedAt / 1000));
    expect(store.records.get(requestKey(token))).toMatchObject({ claimedAt });
    expect(receipts.some((r) => r.reason === 'EXPIRED')).toBe(false);
    expect(store.records.get(requestKey(token))).toMatchObject({ state: 'COMPLETED' });
    expect(h.exchange.placeCalls?.()).toBe(1); // reconciled by getOrder, never placed again
    // A later redelivery only re-publishes it.
    expect(await h.processor.process({ ...m, receiveCount: 3 })).toMatchObject({
      republished: true,
      outcome: 'EXECUTED',
    });
  });

  it('the same when the nonce store is busy at complete() (no crash, same process)', async () => {
    const busy = () =>
      new CountersignError('STORE_FAILED', 'complete failed on the embedded nonce store', {
        details: { code: 'SQLITE_BUSY', retryable: true },
      });
    const { store, nonceStore, state } = failingCompletes(busy);
    const h = await createHarness({ nonceStore });
    const token = await h.token();
    const m = h.message(token);
    await expect(h.processor.process(m)).rejects.toMatchObject({ code: 'STORE_FAILED' });
    expect(state.failures).toBe(1);
    state.failing = false;
    h.clock.advance(PAST_EXPIRY_MS);
    expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      outcome: 'EXECUTED',
      republished: false,
    });
    expect((await allReceipts(h)).map((r) => r.outcome)).toEqual(['EXECUTED']);
    expect(store.records.get(requestKey(token))).toMatchObject({ state: 'COMPLETED' });
    expect(h.exchange.executions?.()).toBe(1);
  });

  it('claimed but never placed (crash before place), token expires → REJECTED EXPIRED under iss#jti; nothing is ever placed', async () => {
    const paper = createPaperExchange();
    let crash = true;
    const exchange: Exchange & Partial<PaperExchange> = {
      ...paper,
      place: (o, s) =>
        crash ? Promise.reject(new Error('killed before place')) : paper.place(o, s),
      getOrder: (id, s) => paper.getOrder(id, s),
    };
    const h = await createHarness({ exchange });
    const token = await h.token();
    const m = h.message(token);
    await expect(h.processor.process(m)).rejects.toThrow('killed before place');
    crash = false;
    h.clock.advance(PAST_EXPIRY_MS);
    h.restart();
    const res = await h.processor.process({ ...m, receiveCount: 2 });
    expect(res).toMatchObject({ action: 'delete', outcome: 'REJECTED', reason: 'EXPIRED' });
    const [receipt] = await allReceipts(h);
    // Keyed by the request (its ids are known: these bytes verified when they were claimed).
    expect(receipt?.req).toMatchObject({ iss: REQUESTER_ID, sha256: sha256B64u(token) });
    expect(receipt?.req.jti).toBe(decodeUnverified(token)!.jti);
    expect(await h.nonceStore.get(requestKey(token))).toMatchObject({ state: 'COMPLETED' });
    expect(await h.nonceStore.get(NonceKeys.message(m.messageId))).toBeUndefined();
    expect(paper.executions()).toBe(0);
    expect(await h.processor.process({ ...m, receiveCount: 3 })).toMatchObject({
      reason: 'EXPIRED',
      republished: true,
    });
    expect(paper.executions()).toBe(0);
  });

  it('a key removed after the claim (UNKNOWN_KID now): still reconciled to the EXECUTED receipt', async () => {
    const { nonceStore, state } = failingCompletes(() => new Error('process killed'));
    const h = await createHarness({ nonceStore, leaseMs: 5000 });
    const token = await h.token();
    const m = h.message(token);
    await expect(h.processor.process(m)).rejects.toThrow('process killed');
    state.failing = false;
    h.clock.advance(5001); // the lease ran out; the token is still valid
    h.restart({
      verifier: {
        verify: () => Promise.reject(new CountersignError('UNKNOWN_KID', 'no key with this kid')),
      },
    });
    expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      outcome: 'EXECUTED',
    });
    expect(h.exchange.executions?.()).toBe(1);
    expect((await allReceipts(h)).map((r) => r.outcome)).toEqual(['EXECUTED']);
  });

  it('the exchange does not answer the reconciliation of an expired claim → UNKNOWN, then a follow-up, never a placement', async () => {
    const paper = createPaperExchange();
    let down = false;
    const exchange: Exchange & Partial<PaperExchange> = {
      ...paper,
      place: (o, s) => paper.place(o, s),
      getOrder: (id, s) =>
        down
          ? Promise.reject(new CountersignError('EXCHANGE_TIMEOUT', 'no answer'))
          : paper.getOrder(id, s),
    };
    const { nonceStore, state } = failingCompletes(() => new Error('process killed'));
    const h = await createHarness({ exchange, nonceStore });
    const token = await h.token();
    const m = h.message(token);
    await expect(h.processor.process(m)).rejects.toThrow('process killed');
    state.failing = false;
    down = true;
    h.clock.advance(PAST_EXPIRY_MS);
    h.restart();
    expect(await h.processor.process({ ...m, receiveCount: 2 })).toEqual({
      action: 'leave',
      why: 'UNRESOLVED',
      visibilitySec: 5,
    });
    down = false;
    expect(await h.processor.reconcileUnknown()).toBe(1);
    const [unknown, follow] = await allReceipts(h);
    expect(unknown).toMatchObject({ outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT' });
    expect(follow).toMatchObject({ outcome: 'EXECUTED', resolves: unknown!.jti });
    expect(paper.placeCalls()).toBe(1);
  });

  it('an UNKNOWN whose order never arrived, resolved after the token expired → REJECTED EXPIRED follow-up, nothing placed', async () => {
    const paper = createPaperExchange();
    let timeouts = 1;
    const exchange: Exchange & Partial<PaperExchange> = {
      ...paper,
      // The order is lost on the way: the call times out and nothing reaches the venue.
      place: (o, s) =>
        timeouts-- > 0
          ? Promise.reject(new CountersignError('EXCHANGE_TIMEOUT', 'no answer'))
          : paper.place(o, s),
      getOrder: (id, s) => paper.getOrder(id, s),
    };
    const h = await createHarness({ exchange });
    const m = h.message(await h.token());
    expect(await h.processor.process(m)).toMatchObject({ action: 'leave', why: 'UNRESOLVED' });
    h.clock.advance(PAST_EXPIRY_MS);
    expect(await h.processor.reconcileUnknown()).toBe(1);
    const [unknown, follow] = await allReceipts(h);
    expect(follow).toMatchObject({
      outcome: 'REJECTED',
      reason: 'EXPIRED',
      resolves: unknown!.jti,
      verifiedAt: unknown!.iat, // the UNKNOWN was signed in the second the request was claimed
    });
    expect(paper.executions()).toBe(0);
    // While it is still valid, the resolution places it (same client order id).
    const h2 = await createHarness({ exchange });
    timeouts = 1;
    expect(await h2.processor.process(h2.message(await h2.token()))).toMatchObject({
      why: 'UNRESOLVED',
    });
    expect(await h2.processor.reconcileUnknown()).toBe(1);
    expect((await allReceipts(h2)).map((r) => r.outcome)).toEqual(['UNKNOWN', 'EXECUTED']);
    expect(paper.executions()).toBe(1);
  });

  it('a verified takeover whose getOrder times out gives the message back (no receipt yet)', async () => {
    const paper = createPaperExchange();
    const exchange: Exchange & Partial<PaperExchange> = {
      ...paper,
      place: (o, s) => paper.place(o, s),
      getOrder: () => Promise.reject(new CountersignError('EXCHANGE_TIMEOUT', 'no answer')),
    };
    const { nonceStore, state } = failingCompletes(() => new Error('process killed'));
    const h = await createHarness({ exchange, nonceStore, leaseMs: 5000 });
    const token = await h.token();
    const m = h.message(token);
    await expect(h.processor.process(m)).rejects.toThrow('process killed');
    state.failing = false;
    h.clock.advance(5001);
    await expect(h.processor.process({ ...m, receiveCount: 2 })).rejects.toMatchObject({
      code: 'EXCHANGE_TIMEOUT',
    });
    expect((h.bus as FakeBus).events).toHaveLength(0);
    expect(await h.nonceStore.get(requestKey(token))).toMatchObject({ state: 'IN_PROGRESS' });
  });
});

describe('F1: what stays refused', () => {
  it('a redelivery of an expired token that was never claimed still gets REJECTED EXPIRED (keyed by the message)', async () => {
    const store = fakeNonceStore();
    let down = true;
    const nonceStore: NonceStore = {
      ...store,
      claim: (k, o) =>
        down
          ? Promise.reject(new CountersignError('STORE_FAILED', 'database is locked'))
          : store.claim(k, o),
    };
    const h = await createHarness({ nonceStore });
    const token = await h.token();
    const m = h.message(token);
    await expect(h.processor.process(m)).rejects.toMatchObject({ code: 'STORE_FAILED' });
    down = false;
    h.clock.advance(PAST_EXPIRY_MS);
    expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      outcome: 'REJECTED',
      reason: 'EXPIRED',
    });
    const [receipt] = await allReceipts(h);
    expect(receipt?.req).toEqual({ jti: null, iss: null, sub: null, sha256: sha256B64u(token) });
    expect(await store.get(NonceKeys.message(m.messageId))).toMatchObject({ state: 'COMPLETED' });
    expect(await store.get(requestKey(token))).toBeUndefined();
    expect(h.exchange.executions?.()).toBe(0);
  });

  it('forged bytes naming a claimed iss#jti are refused by their own code and touch nothing', async () => {
    const { store, nonceStore, state } = failingCompletes(() => new Error('process killed'));
    const h = await createHarness({ nonceStore });
    const token = await h.token();
    await expect(h.processor.process(h.message(token))).rejects.toThrow('process killed');
    state.failing = false;
    h.clock.advance(PAST_EXPIRY_MS);
    // Same iss and jti, other quantity, the original signature: these bytes were never claimed.
    const [head, payload, sig] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as {
      txn: { quantity: string };
    };
    claims.txn.quantity = '99';
    const forged = `${head}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    const placed = h.exchange.placeCalls?.();
    expect(await h.processor.process(h.message(forged))).toMatchObject({
      outcome: 'REJECTED',
      reason: 'BAD_SIGNATURE', // the signature is checked before the expiry
    });
    expect(store.records.get(requestKey(token))).toMatchObject({
      state: 'IN_PROGRESS',
      attempts: 1,
    });
    expect(h.exchange.placeCalls?.()).toBe(placed);
  });

  it('a replay in a new message of claimed, expired bytes is REJECTED REPLAYED (named), the original still gets its receipt', async () => {
    const h = await createHarness();
    const token = await h.token();
    const first = h.message(token);
    await h.processor.process(first);
    h.clock.advance(PAST_EXPIRY_MS);
    const copy = h.message(token);
    expect(await h.processor.process(copy)).toMatchObject({
      outcome: 'REJECTED',
      reason: 'REPLAYED',
    });
    const receipts = await allReceipts(h);
    expect(receipts[1]).toMatchObject({ messageId: copy.messageId, req: { iss: REQUESTER_ID } });
    expect(await h.processor.process({ ...first, receiveCount: 2 })).toMatchObject({
      outcome: 'EXECUTED',
      republished: true,
    });
  });
});

describe('client order id = clientOrderIdOf(iss, jti)', () => {
  it('two issuers using the same jti execute two distinct orders, each with its own fills', async () => {
    const other = await newEs256Signer();
    const h = await createHarness({
      policies: (s) => [defaultPolicy(s), defaultPolicy(other, { id: 'req-other' })],
    });
    const jti = 'SameJtiForBothIssuers1';
    const a = await h.token({ jti, txn: { quantity: '0.1' } });
    const b = await h.token({ jti, iss: 'req-other', txn: { quantity: '0.2' } }, other);
    expect(await h.processor.process(h.message(a))).toMatchObject({ outcome: 'EXECUTED' });
    expect(await h.processor.process(h.message(b))).toMatchObject({ outcome: 'EXECUTED' });
    const receipts = await allReceipts(h);
    expect(receipts.map((r) => [r.req.iss, r.fills[0]?.quantity])).toEqual([
      [REQUESTER_ID, '0.1'],
      ['req-other', '0.2'],
    ]);
    expect(h.exchange.executions?.()).toBe(2);
    expect(h.orderId(a)).not.toBe(h.orderId(b));
    expect(await h.exchange.getOrder(h.orderId(b))).toMatchObject({
      fills: [{ quantity: '0.2', price: '64000.10' }],
    });
  });
});

/**
 * A nonce store whose first request-key claim lands and then holds its caller (a gateway frozen
 * right after its claim: SIGSTOP, a GC pause) until `wake()`.
 */
function freezingAfterClaim() {
  const store = fakeNonceStore();
  let frozen = false;
  let onClaimed = (): void => undefined;
  let wake = (): void => undefined;
  const claimed = new Promise<void>((r) => (onClaimed = r));
  const woken = new Promise<void>((r) => (wake = r));
  const nonceStore: NonceStore = {
    ...store,
    claim: async (key, o) => {
      const r = await store.claim(key, o);
      if (!key.startsWith('msg#') && !frozen) {
        frozen = true;
        onClaimed();
        await woken;
      }
      return r;
    },
  };
  return { nonceStore, claimed, wake: () => wake() };
}

describe('a claim places only while its lease outlasts the place call', () => {
  it('frozen past its lease on the last receive, nobody took over: waits the lease out, takes it back, reconciles, places once', async () => {
    const f = freezingAfterClaim();
    const h = await createHarness({ nonceStore: f.nonceStore, leaseMs: 3000 });
    const m = h.message(await h.token(), { receiveCount: 5 }); // maxReceives 5
    const first = h.processor.process(m);
    await f.claimed;
    h.clock.advance(3000); // its lease has just ended
    f.wake();
    expect(await first).toMatchObject({ action: 'delete', outcome: 'EXECUTED' });
    expect(h.exchange.placeCalls?.()).toBe(1);
    expect(await allReceipts(h)).toHaveLength(1);
  });

  it('the margin is the place deadline: leaves while its lease is still live but shorter than exchangeTimeoutMs; the redelivery after the lease places once', async () => {
    const f = freezingAfterClaim();
    const h = await createHarness({
      nonceStore: f.nonceStore,
      leaseMs: 5000,
      processor: { exchangeTimeoutMs: 4000 },
    });
    const m = h.message(await h.token());
    const first = h.processor.process(m);
    await f.claimed;
    h.clock.advance(1000); // 4000 ms of lease left: not more than a place() may still send for
    f.wake();
    expect(await first).toEqual({ action: 'leave', why: 'LEASE_ENDING', visibilitySec: 4 });
    expect(h.exchange.placeCalls?.()).toBe(0);
    h.clock.advance(4000); // the lease has ended: the redelivery takes over

    expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      outcome: 'EXECUTED',
      republished: false,
    });
    expect(h.exchange.placeCalls?.()).toBe(1);
    expect(await allReceipts(h)).toHaveLength(1);
  });

  it('places with one millisecond more than the deadline left', async () => {
    const f = freezingAfterClaim();
    const h = await createHarness({
      nonceStore: f.nonceStore,
      leaseMs: 5000,
      processor: { exchangeTimeoutMs: 4000 },
    });
    const first = h.processor.process(h.message(await h.token()));
    await f.claimed;
    h.clock.advance(999); // 4001 ms of lease left
    f.wake();
    expect(await first).toMatchObject({ action: 'delete', outcome: 'EXECUTED' });
  });

  it('a lease no longer than the place deadline is refused at construction (nothing could ever be placed)', async () => {
    await expect(
      createHarness({ leaseMs: 4000, processor: { exchangeTimeoutMs: 4000 } }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    const http = { placeDeadlineMs: 5000 } as Exchange;
    expect([
      placeDeadlineOf(http),
      placeDeadlineOf(http, 2000),
      placeDeadlineOf(http, 9000),
    ]).toEqual([5000, 2000, 5000]);
    expect(placeDeadlineOf(createPaperExchange())).toBe(0);
  });
});

describe("an UNKNOWN's follow-up places only while its res# lease outlasts the place call", () => {
  it('a pass frozen after its getOrder found nothing, with no more lease left than exchangeTimeoutMs: places nothing; the pass after the lease reconciles and places once', async () => {
    const paper = createPaperExchange();
    let lost = 1;
    let armed = false;
    let onHeld = (): void => undefined;
    let wake = (): void => undefined;
    const held = new Promise<void>((r) => (onHeld = r));
    const woken = new Promise<void>((r) => (wake = r));
    const exchange: Exchange & Partial<PaperExchange> = {
      ...paper,
      // The first order is lost on the way: the call times out, nothing reaches the venue.
      place: (o, s) =>
        lost-- > 0
          ? Promise.reject(new CountersignError('EXCHANGE_TIMEOUT', 'no answer'))
          : paper.place(o, s),
      getOrder: async (id, s) => {
        const r = await paper.getOrder(id, s);
        if (armed) {
          armed = false;
          onHeld();
          await woken;
        }
        return r;
      },
    };
    const h = await createHarness({
      exchange,
      leaseMs: 5000,
      processor: { exchangeTimeoutMs: 4000 },
    });
    const m = h.message(await h.token());
    expect(await h.processor.process(m)).toMatchObject({ why: 'UNRESOLVED' });
    armed = true;
    const pass = h.processor.reconcileUnknown();
    await held;
    h.clock.advance(1000); // 4000 ms of res# lease left: not more than a place() may still send for
    wake();
    expect(await pass).toBe(0);
    expect(paper.placeCalls()).toBe(0);
    expect(h.processor.pendingUnknown()).toBe(1);
    expect(await h.processor.reconcileUnknown()).toBe(0); // our lease is still live: pending
    h.clock.advance(4000); // the lease has ended: the next pass takes res# over, reconciles first
    expect(await h.processor.reconcileUnknown()).toBe(1);
    expect(paper.placeCalls()).toBe(1);
    const [unknown, follow] = await allReceipts(h);
    expect(follow).toMatchObject({ outcome: 'EXECUTED', resolves: unknown!.jti });
    expect(await allReceipts(h)).toHaveLength(2);
  });
});
