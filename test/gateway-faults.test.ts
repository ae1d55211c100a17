// Fault and attack tests of the exchange gateway (nothing lost, nothing executed twice), run on
// the embedded adapters (SQLite nonce store + SQLite bus) AND on moto (DynamoDB nonce store +
// EventBridge bus with a rule to a queue, receipts read back from that queue).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  CountersignError,
  GENESIS_PREV,
  NonceKeys,
  ReceiptEventDetail,
  sha256B64u,
  TokenTypes,
  type ReceiptClaims,
} from '@countersign/contracts';
import type { NonceStore } from '@countersign/replay-guard';
import { createDynamoNonceStore, createSqliteNonceStore } from '@countersign/replay-guard';
import { createKmsSigner, signJwt } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import {
  createEventBridgeBus,
  createSqliteEventBus,
  parseEventBridgeEnvelope,
} from '@countersign/transport';
import type { EventBus } from '@countersign/transport';
import { decodeUnverified } from '@countersign/verifier';
import { createPaperExchange, type Exchange } from '@countersign/exchange-gateway';
import {
  createHarness,
  defaultPolicy,
  GATEWAY_ID,
  newEs256Signer,
  orderIdOf,
  REQUESTER_ID,
  type Harness,
  type HarnessOptions,
} from '@countersign/exchange-gateway/testing';
import { createAwsStack, type AwsStack } from './support/aws-stack.ts';
import { clientConfig } from './support/aws.ts';
import { auditEvents } from './support/receipts.ts';

interface Backend {
  readonly nonceStore: NonceStore;
  readonly bus: EventBus;
  /** Every receipt event published so far (duplicates included). */
  events(min: number): Promise<ReceiptEventDetail[]>;
}

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.splice(0)) await c();
});

function embeddedBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'gw-faults-'));
  const nonceStore = createSqliteNonceStore({ path: join(dir, 'nonces.sqlite') });
  const bus = createSqliteEventBus({ path: join(dir, 'bus.sqlite') });
  closers.push(
    () => nonceStore.close(),
    () => bus.close(),
  );
  return {
    nonceStore,
    bus,
    async events() {
      const out: ReceiptEventDetail[] = [];
      for await (const e of bus.read({})) out.push(ReceiptEventDetail.parse(e.detail));
      return out;
    },
  };
}

/** Drains the rule's target queue into a list (EventBridge → SQS is asynchronous). */
function queueCollector(sqs: SQSClient, queueUrl: string) {
  const seen: ReceiptEventDetail[] = [];
  return async (min: number): Promise<ReceiptEventDetail[]> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const res = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
        }),
      );
      const msgs = res.Messages ?? [];
      for (const m of msgs)
        seen.push(ReceiptEventDetail.parse(parseEventBridgeEnvelope(m.Body!).detail));
      if (msgs.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
      if (msgs.length === 0 && (seen.length >= min || Date.now() > deadline)) return [...seen];
      if (msgs.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
  };
}

let stack: AwsStack | undefined;
async function motoBackend(): Promise<Backend & { stack: AwsStack; eb: EventBridgeClient }> {
  stack ??= await createAwsStack();
  const ddb = new DynamoDBClient(clientConfig());
  const eb = new EventBridgeClient(clientConfig());
  const sqs = new SQSClient(clientConfig());
  // A fresh table per backend keeps the streams of the tests apart.
  const { createDynamoNonceTable } = await import('@countersign/replay-guard');
  const tableName = `${stack.tableName}-${Math.random().toString(36).slice(2, 8)}`;
  await createDynamoNonceTable(ddb, tableName);
  const collect = queueCollector(sqs, stack.auditQueueUrl);
  await collect(0); // start from an empty audit queue
  return {
    stack,
    eb,
    nonceStore: createDynamoNonceStore({ client: ddb, tableName }),
    bus: createEventBridgeBus({ client: eb, busName: stack.busName, baseDelayMs: 5 }),
    events: collect,
  };
}

const distinct = (events: readonly ReceiptEventDetail[]) => [
  ...new Set(events.map((e) => e.receipt)),
];

/** The audit of a harness run's events, as of the harness clock. */
const audit = (h: Harness, events: readonly ReceiptEventDetail[]) =>
  auditEvents(events, {
    gatewayId: GATEWAY_ID,
    gatewayKey: h.gatewaySigner.publicJwk,
    requesterId: REQUESTER_ID,
    requesterKey: h.requesterSigner.publicJwk,
    clock: h.clock,
  });

/** The event with its receipt's claims changed and signed again with the gateway's key. */
async function resigned(
  h: Harness,
  event: ReceiptEventDetail,
  change: (c: ReceiptClaims) => ReceiptClaims,
): Promise<ReceiptEventDetail> {
  const claims = change(await h.verifyReceipt(event.receipt));
  const receipt = await signJwt(h.gatewaySigner, claims, { typ: TokenTypes.RECEIPT });
  return { ...event, receipt };
}

const backends: [string, () => Promise<Backend>][] = [
  ['embedded', () => Promise.resolve(embeddedBackend())],
  ['moto', motoBackend],
];

describe.each(backends)('gateway faults on %s adapters', (_name, makeBackend) => {
  async function setup(over: HarnessOptions = {}): Promise<{ h: Harness; b: Backend }> {
    const b = await makeBackend();
    const h = await createHarness({ nonceStore: b.nonceStore, bus: b.bus, ...over });
    return { h, b };
  }

  it('the same message delivered 50 times: one execution, one receipt id', async () => {
    const { h, b } = await setup();
    const m = h.message(await h.token());
    const ids = new Set<string>();
    for (let i = 1; i <= 50; i += 1) {
      const r = await h.processor.process({ ...m, receiveCount: Math.min(i, 4) });
      if (r.action === 'delete') ids.add(r.receiptId);
    }
    expect(ids.size).toBe(1);
    expect(h.exchange.executions?.()).toBe(1);
    const events = await b.events(50);
    expect(events).toHaveLength(50);
    expect(distinct(events)).toHaveLength(1);
    expect((await h.verifyReceipt(events[0]!.receipt)).jti).toBe([...ids][0]);
  });

  it('crash after execute, before complete/publish: reconciled after the lease, one execution, one receipt', async () => {
    const b = await makeBackend();
    let crash = true;
    const crashing: NonceStore = {
      claim: (k, o) => b.nonceStore.claim(k, o),
      get: (k) => b.nonceStore.get(k),
      head: (s) => b.nonceStore.head(s),
      complete: (k, o) =>
        crash ? Promise.reject(new Error('killed')) : b.nonceStore.complete(k, o),
    };
    const h = await createHarness({ nonceStore: crashing, bus: b.bus, leaseMs: 3000 });
    const m = h.message(await h.token());
    await expect(h.processor.process(m)).rejects.toThrow('killed');
    crash = false;
    h.restart(); // a new process: new owner, empty caches, same stores
    expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      action: 'leave',
      why: 'IN_PROGRESS',
    });
    h.clock.advance(3001);
    expect(await h.processor.process({ ...m, receiveCount: 3 })).toMatchObject({
      action: 'delete',
      outcome: 'EXECUTED',
      republished: false,
    });
    expect(h.exchange.executions?.()).toBe(1);
    expect(h.exchange.placeCalls?.()).toBe(1);
    const events = await b.events(1);
    expect(distinct(events)).toHaveLength(1);
    expect(await h.verifyReceipt(events[0]!.receipt)).toMatchObject({ seq: 1, prev: GENESIS_PREV });
  });

  // Issue 13 F1: the order filled, its receipt was not stored, and the token expired before the
  // message came back. The redelivery must reconcile (getOrder), not answer EXPIRED.
  const f1Faults: [string, () => Error][] = [
    ['killed between place() and complete()', () => new Error('killed')],
    [
      'the nonce store busy at complete()',
      () =>
        new CountersignError('STORE_FAILED', 'complete failed', {
          details: { code: 'SQLITE_BUSY', retryable: true },
        }),
    ],
  ];
  for (const [fault, error] of f1Faults) {
    it(`F1, ${fault}, token expired meanwhile: one EXECUTED receipt with the fills, iss#jti COMPLETED, no EXPIRED`, async () => {
      const b = await makeBackend();
      let failing = true;
      const store: NonceStore = {
        claim: (k, o) => b.nonceStore.claim(k, o),
        get: (k) => b.nonceStore.get(k),
        head: (st) => b.nonceStore.head(st),
        complete: (k, o) =>
          failing && !k.startsWith('msg#') ? Promise.reject(error()) : b.nonceStore.complete(k, o),
      };
      const h = await createHarness({ nonceStore: store, bus: b.bus });
      const token = await h.token({ txn: { quantity: '0.3' } });
      const m = h.message(token);
      await expect(h.processor.process(m)).rejects.toThrow();
      failing = false;
      h.clock.advance(91_000); // past exp (60 s) + skew (30 s), and the lease
      h.restart();
      expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
        action: 'delete',
        outcome: 'EXECUTED',
        republished: false,
      });
      const c = decodeUnverified(token)!;
      expect(await b.nonceStore.get(NonceKeys.request(String(c.iss), String(c.jti)))).toMatchObject(
        { state: 'COMPLETED', requestSha256: sha256B64u(token) },
      );
      const receipts = await Promise.all(
        distinct(await b.events(1)).map((r) => h.verifyReceipt(r)),
      );
      expect(receipts.map((r) => [r.outcome, r.reason ?? null, r.fills])).toEqual([
        ['EXECUTED', null, [{ quantity: '0.3', price: '64000.10' }]],
      ]);
      expect(receipts[0]).toMatchObject({ seq: 1, prev: GENESIS_PREV, messageId: m.messageId });
      expect(h.exchange.executions?.()).toBe(1);
      expect(h.exchange.placeCalls?.()).toBe(1);

      // Signed after the token expired, it names when the request was verified and claimed (the
      // first delivery), and the audit checks the request then: clean.
      const claimedAt = Math.floor((h.clock.now() - 91_000) / 1000);
      expect(receipts[0]!.verifiedAt).toBe(claimedAt);
      expect(receipts[0]!.iat).toBeGreaterThan(Number(c.exp) + 30);
      const events = await b.events(1);
      expect((await audit(h, events)).findings).toEqual([]);
      // Without it, or with a verification time past the window, the audit reports it.
      const [event] = events;
      for (const change of [
        ({ verifiedAt: _, ...rest }: ReceiptClaims) => rest,
        (claims: ReceiptClaims) => ({ ...claims, verifiedAt: Number(c.exp) + 31 }),
      ]) {
        const report = await audit(h, [await resigned(h, event!, change)]);
        expect(report.findings.map((f) => [f.code, f.verifierCode])).toEqual([
          ['OUTSIDE_VALIDITY_WINDOW', 'EXPIRED'],
        ]);
      }
    });
  }

  it('F1: an expired token that was never claimed still gets REJECTED EXPIRED under msg#', async () => {
    const b = await makeBackend();
    let down = true;
    const store: NonceStore = {
      claim: (k, o) =>
        down && !k.startsWith('msg#')
          ? Promise.reject(new CountersignError('STORE_FAILED', 'unavailable'))
          : b.nonceStore.claim(k, o),
      get: (k) => b.nonceStore.get(k),
      head: (st) => b.nonceStore.head(st),
      complete: (k, o) => b.nonceStore.complete(k, o),
    };
    const h = await createHarness({ nonceStore: store, bus: b.bus });
    const m = h.message(await h.token());
    await expect(h.processor.process(m)).rejects.toMatchObject({ code: 'STORE_FAILED' });
    down = false;
    h.clock.advance(91_000);
    expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      outcome: 'REJECTED',
      reason: 'EXPIRED',
    });
    expect(await b.nonceStore.get(NonceKeys.message(m.messageId))).toMatchObject({
      state: 'COMPLETED',
    });
    expect(h.exchange.executions?.()).toBe(0);
    const receipts = distinct(await b.events(1)); // also drains the rule's queue for the next test
    expect(receipts).toHaveLength(1);
    expect(await h.verifyReceipt(receipts[0]!)).toMatchObject({
      outcome: 'REJECTED',
      reason: 'EXPIRED',
      req: { jti: null, iss: null, sub: null },
    });
  });

  it('crash after complete, before publish: the redelivery re-publishes the stored receipt, no new seq', async () => {
    const b = await makeBackend();
    let down = true;
    const bus: EventBus = {
      publish: (e) => (down ? Promise.reject(new Error('killed')) : b.bus.publish(e)),
    };
    const h = await createHarness({ nonceStore: b.nonceStore, bus });
    const m = h.message(await h.token());
    await expect(h.processor.process(m)).rejects.toThrow('killed');
    down = false;
    h.restart();
    const again = await h.processor.process({ ...m, receiveCount: 2 });
    expect(again).toMatchObject({ action: 'delete', outcome: 'EXECUTED', republished: true });
    const events = await b.events(1);
    expect(events).toHaveLength(1);
    const c = await h.verifyReceipt(events[0]!.receipt);
    expect(c.seq).toBe(1);
    expect((await b.nonceStore.head(c.stream)).seq).toBe(1);
    expect(h.exchange.executions?.()).toBe(1);
  });

  it('signing throttled on the receipt: retried, the message is not lost', async () => {
    const real = await newEs256Signer();
    let throttles = 3;
    const signer: Signer = {
      alg: real.alg,
      kid: real.kid,
      publicJwk: real.publicJwk,
      sign: (i) =>
        throttles-- > 0
          ? Promise.reject(
              Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }),
            )
          : real.sign(i),
    };
    const { h, b } = await setup({ gatewaySigner: signer });
    expect(await h.processor.process(h.message(await h.token()))).toMatchObject({
      outcome: 'EXECUTED',
    });
    expect(distinct(await b.events(1))).toHaveLength(1);
  });

  it('a replayed token after a gateway restart → REPLAYED, not executed again', async () => {
    const { h, b } = await setup();
    const token = await h.token();
    await h.processor.process(h.message(token));
    h.restart();
    expect(await h.processor.process(h.message(token))).toMatchObject({
      outcome: 'REJECTED',
      reason: 'REPLAYED',
    });
    expect(h.exchange.executions?.()).toBe(1);
    expect(distinct(await b.events(2))).toHaveLength(2);
  });

  it('attacks and violations each get a REJECTED receipt with their code', async () => {
    const { h, b } = await setup({
      policies: (s) => [defaultPolicy(s, { sides: ['buy'], maxOrdersPerMinute: 1 })],
    });
    const stranger = await newEs256Signer();
    const valid = await h.token();
    const [head, body, sig] = valid.split('.');
    const iat = Math.floor(h.clock.now() / 1000) - 400;
    const cases: [string, string][] = [
      [await h.token({ aud: 'gw-elsewhere' }), 'AUDIENCE_MISMATCH'],
      [await h.token({}, stranger), 'UNKNOWN_KID'],
      [`${head}.${body}.${sig!.slice(0, -4)}AAAA`, 'BAD_SIGNATURE'],
      [await h.token({ iat, nbf: iat, exp: iat + 60 }), 'EXPIRED'],
      [await h.token({ sub: 'acct-x' }), 'ACCOUNT_NOT_ALLOWED'],
      [await h.token({ txn: { symbol: 'SOL-USD' } }), 'SYMBOL_NOT_ALLOWED'],
      [await h.token({ txn: { side: 'sell' } }), 'SIDE_NOT_ALLOWED'],
      [
        await h.token({ txn: { quantity: '10', limitPrice: '10000.00000001' } }),
        'NOTIONAL_TOO_HIGH',
      ],
      [valid, 'EXECUTED'],
      [await h.token(), 'RATE_LIMITED'],
    ];
    for (const [token, expected] of cases) {
      const r = await h.processor.process(h.message(token));
      expect(r.action === 'delete' ? (r.reason ?? r.outcome) : r).toBe(expected);
    }
    expect(h.exchange.executions?.()).toBe(1);
    const events = await b.events(cases.length);
    expect(distinct(events)).toHaveLength(cases.length);
  });

  // Attack review of #13: a gateway frozen (SIGSTOP, GC pause, stalled VM) between its claim and
  // place() outlives its lease; another gateway takes over and answers. The frozen one must not
  // place when it wakes: its lease no longer covers the place call.
  const frozen: [string, number, 'REJECTED' | 'EXECUTED'][] = [
    ['the token expired meanwhile: the taker answers REJECTED EXPIRED', 91_000, 'REJECTED'],
    ['the token still valid: the taker places it', 3001, 'EXECUTED'],
  ];
  for (const [name, frozenMs, outcome] of frozen) {
    it(`a gateway frozen between claim and place past its lease, ${name}; on waking it does not place`, async () => {
      const b = await makeBackend();
      let frozenOnce = false;
      let onClaimed = (): void => undefined;
      let wake = (): void => undefined;
      const claimed = new Promise<void>((r) => (onClaimed = r));
      const woken = new Promise<void>((r) => (wake = r));
      const store: NonceStore = {
        // The first request-key claim lands in the store, then its caller freezes.
        claim: async (k, o) => {
          const r = await b.nonceStore.claim(k, o);
          if (!k.startsWith('msg#') && !frozenOnce) {
            frozenOnce = true;
            onClaimed();
            await woken;
          }
          return r;
        },
        get: (k) => b.nonceStore.get(k),
        head: (st) => b.nonceStore.head(st),
        complete: (k, o) => b.nonceStore.complete(k, o),
      };
      const h = await createHarness({ nonceStore: store, bus: b.bus, leaseMs: 3000 });
      const token = await h.token();
      const m = h.message(token);
      const first = h.processor.process(m);
      await claimed;
      h.clock.advance(frozenMs); // the frozen gateway's own clock moves on too
      h.restart(); // another gateway (new owner) gets the redelivery
      expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
        action: 'delete',
        outcome,
        republished: false,
      });
      wake();
      const woke = await first;
      expect(h.exchange.placeCalls?.()).toBe(outcome === 'EXECUTED' ? 1 : 0);
      expect(h.exchange.executions?.()).toBe(outcome === 'EXECUTED' ? 1 : 0);
      // Waking, it leaves the message (no receipt of its own): the lease owner's path decided.
      expect(woke).toEqual({ action: 'leave', why: 'LEASE_ENDING', visibilitySec: 1 });
      // The redelivery finds the taker's receipt and only re-publishes it.
      expect(await h.processor.process({ ...m, receiveCount: 3 })).toMatchObject({
        outcome,
        republished: true,
      });
      expect(h.exchange.placeCalls?.()).toBe(outcome === 'EXECUTED' ? 1 : 0);
      const events = await b.events(2); // also drains the rule's queue for the next test
      const receipts = await Promise.all(distinct(events).map((r) => h.verifyReceipt(r)));
      expect(receipts.map((r) => [r.outcome, r.reason ?? null])).toEqual([
        [outcome, outcome === 'REJECTED' ? 'EXPIRED' : null],
      ]);
    });
  }

  // The same window in an UNKNOWN's follow-up: a resolver frozen under its res# claim, before
  // place(), past that claim's lease, while another resolver took over and answered.
  const frozenResolver: [string, 'claim' | 'getOrder', number, 'REJECTED' | 'EXECUTED'][] = [
    [
      'after its claim, the token expired meanwhile: the taker answers REJECTED EXPIRED (never placed)',
      'claim',
      91_000,
      'REJECTED',
    ],
    [
      'after its getOrder found nothing, the token still valid: the taker places it',
      'getOrder',
      3001,
      'EXECUTED',
    ],
  ];
  for (const [name, at, frozenMs, outcome] of frozenResolver) {
    it(`a resolver frozen under its res# claim past its lease, ${name}; on waking it does not place`, async () => {
      const b = await makeBackend();
      const paper = createPaperExchange();
      let lost = 1;
      let hold: 'claim' | 'getOrder' | undefined;
      let onHeld = (): void => undefined;
      let wake = (): void => undefined;
      const held = new Promise<void>((r) => (onHeld = r));
      const woken = new Promise<void>((r) => (wake = r));
      // Once armed, the first call at `at` does its work, then its caller freezes.
      const freeze = async (point: 'claim' | 'getOrder') => {
        if (hold !== point) return;
        hold = undefined;
        onHeld();
        await woken;
      };
      const exchange: Exchange & Partial<typeof paper> = {
        ...paper,
        // The first order is lost on the way: the call times out, nothing reaches the venue.
        place: (o, s) =>
          lost-- > 0
            ? Promise.reject(new CountersignError('EXCHANGE_TIMEOUT', 'no answer'))
            : paper.place(o, s),
        getOrder: async (id, s) => {
          const r = await paper.getOrder(id, s);
          await freeze('getOrder');
          return r;
        },
      };
      const store: NonceStore = {
        claim: async (k, o) => {
          const r = await b.nonceStore.claim(k, o);
          if (k.startsWith('res#')) await freeze('claim');
          return r;
        },
        get: (k) => b.nonceStore.get(k),
        head: (st) => b.nonceStore.head(st),
        complete: (k, o) => b.nonceStore.complete(k, o),
      };
      const h = await createHarness({ nonceStore: store, bus: b.bus, exchange, leaseMs: 3000 });
      const m = h.message(await h.token());
      expect(await h.processor.process(m)).toMatchObject({ action: 'leave', why: 'UNRESOLVED' });
      // The redelivery verifies, re-publishes the UNKNOWN and resolves it: claims res#, freezes.
      hold = at;
      const first = h.processor.process({ ...m, receiveCount: 2 });
      await held;
      h.clock.advance(frozenMs); // past its res# lease (3 s)
      h.restart(); // another gateway resolves on the next redelivery
      expect(await h.processor.process({ ...m, receiveCount: 3 })).toMatchObject({
        action: 'delete',
        outcome,
        republished: false,
      });
      expect(paper.placeCalls()).toBe(outcome === 'EXECUTED' ? 1 : 0);
      wake();
      const woke = await first.catch((err: unknown) => err);
      // Waking, it places nothing and answers nothing: the UNKNOWN stays for the next pass.
      expect(paper.placeCalls()).toBe(outcome === 'EXECUTED' ? 1 : 0);
      expect(paper.executions()).toBe(outcome === 'EXECUTED' ? 1 : 0);
      expect(woke).toEqual({ action: 'leave', why: 'UNRESOLVED', visibilitySec: 5 });
      // The next redelivery finds the taker's follow-up and only re-publishes it.
      expect(await h.processor.process({ ...m, receiveCount: 4 })).toMatchObject({
        outcome,
        republished: true,
      });
      expect(paper.placeCalls()).toBe(outcome === 'EXECUTED' ? 1 : 0);
      const events = await b.events(4); // also drains the rule's queue for the next test
      const receipts = await Promise.all(distinct(events).map((r) => h.verifyReceipt(r)));
      expect(receipts.map((r) => [r.outcome, r.reason ?? null])).toEqual([
        ['UNKNOWN', 'EXCHANGE_TIMEOUT'],
        [outcome, outcome === 'REJECTED' ? 'EXPIRED' : null],
      ]);
      expect(receipts[1]!.resolves).toBe(receipts[0]!.jti);
    });
  }

  it('an exchange timeout gives UNKNOWN then one follow-up receipt; one execution', async () => {
    const exchange = createPaperExchange();
    const { h, b } = await setup({ exchange });
    const token = await h.token();
    exchange.timeoutOnce(orderIdOf(token));
    const m = h.message(token);
    expect(await h.processor.process(m)).toMatchObject({ action: 'leave', why: 'UNRESOLVED' });
    h.restart(); // the pending list is lost with the process: the redelivery resolves it
    expect(await h.processor.process({ ...m, receiveCount: 2 })).toMatchObject({
      action: 'delete',
      outcome: 'EXECUTED',
    });
    expect(await h.processor.process({ ...m, receiveCount: 3 })).toMatchObject({
      republished: true,
    });
    const receipts = distinct(await b.events(3));
    expect(receipts).toHaveLength(2);
    const [unknown, follow] = await Promise.all(receipts.map((r) => h.verifyReceipt(r)));
    expect(unknown).toMatchObject({ outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT', seq: 1 });
    expect(follow).toMatchObject({
      outcome: 'EXECUTED',
      resolves: unknown!.jti,
      seq: 2,
      prev: sha256B64u(receipts[0]!),
    });
    expect(exchange.executions()).toBe(1);
  });

  it('an UNKNOWN resolved after the token expired: the follow-up names when the request was verified; the audit is clean', async () => {
    const exchange = createPaperExchange();
    const { h, b } = await setup({ exchange });
    const token = await h.token();
    exchange.timeoutOnce(orderIdOf(token)); // placed, but the call reports a timeout
    const verifiedAt = Math.floor(h.clock.now() / 1000);
    expect(await h.processor.process(h.message(token))).toMatchObject({ why: 'UNRESOLVED' });
    h.clock.advance(120_000); // the exchange answers again only long after exp + skew
    expect(await h.processor.reconcileUnknown()).toBe(1);
    const events = await b.events(2);
    const [unknown, follow] = await Promise.all(distinct(events).map((r) => h.verifyReceipt(r)));
    expect(unknown).toMatchObject({ outcome: 'UNKNOWN', iat: verifiedAt });
    expect(unknown).not.toHaveProperty('verifiedAt'); // signed in the second it was verified
    expect(follow).toMatchObject({ outcome: 'EXECUTED', resolves: unknown!.jti, verifiedAt });
    expect(follow!.iat).toBe(verifiedAt + 120);
    expect((await audit(h, events)).findings).toEqual([]);
    expect(exchange.executions()).toBe(1);
  });
});

describe('gateway faults specific to AWS', () => {
  it('PutEvents partial failure (stub over the moto client): the failed entry is retried and arrives once', async () => {
    // moto never fails single entries, so a stub answers the first PutEvents with one failed entry.
    const b = await motoBackend();
    let calls = 0;
    const flaky = {
      send: async (cmd: PutEventsCommand) => {
        calls += 1;
        if (calls === 1) {
          return {
            FailedEntryCount: 1,
            Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
          };
        }
        return b.eb.send(cmd);
      },
    } as unknown as EventBridgeClient;
    const bus = createEventBridgeBus({ client: flaky, busName: b.stack.busName, baseDelayMs: 5 });
    const h = await createHarness({ nonceStore: b.nonceStore, bus });
    expect(await h.processor.process(h.message(await h.token()))).toMatchObject({
      outcome: 'EXECUTED',
    });
    expect(calls).toBe(2);
    await b.events(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(await b.events(1)).toHaveLength(1); // the collector is cumulative: no second copy arrived
  });

  it('KMS throttling on receipt signing (stub over the moto KMS client): retried, message not lost', async () => {
    const b = await motoBackend();
    const kms = new KMSClient(clientConfig());
    let throttled = 0;
    const client = {
      send: (cmd: Parameters<KMSClient['send']>[0]) => {
        if (cmd.constructor.name === 'SignCommand' && throttled < 2) {
          throttled += 1;
          return Promise.reject(
            Object.assign(new Error('Rate exceeded'), {
              name: 'ThrottlingException',
              $retryable: { throttling: true },
            }),
          );
        }
        return kms.send(cmd as never);
      },
    } as unknown as KMSClient;
    const signer = await createKmsSigner({ client, keyId: b.stack.gatewayKeyId, alg: 'ES256' });
    const h = await createHarness({ nonceStore: b.nonceStore, bus: b.bus, gatewaySigner: signer });
    expect(await h.processor.process(h.message(await h.token()))).toMatchObject({
      outcome: 'EXECUTED',
    });
    expect(throttled).toBe(2);
    const events = await b.events(1);
    expect(distinct(events)).toHaveLength(1);
    expect((await h.verifyReceipt(events[0]!.receipt)).outcome).toBe('EXECUTED');
  });
});
