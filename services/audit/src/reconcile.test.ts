// The pure reconciliation rules, one case per row of the table in reconcile.ts, on hand-made
// facts (the end-to-end cases with real files are in the CLI's audit-reconcile.test.ts).
import { describe, expect, it } from 'vitest';
import { clientOrderIdOf, NonceKeys, requestKeyParts } from '@countersign/contracts';
import {
  idsToLookUp,
  indexReceipts,
  reconcile,
  type ExchangeListedOrder,
  type ExchangeResult,
  type InProgressRecord,
  type ReceiptFact,
} from './reconcile.ts';

const T0 = 1_780_000_000_000;
const window = { from: T0, to: T0 + 3_600_000 };
const FILL = { quantity: '0.015', price: '64000.10' };
let n = 0;

function jti(): string {
  return `J${String(++n).padStart(21, '0')}`;
}

function receipt(over: Partial<ReceiptFact> = {}): ReceiptFact {
  return {
    receiptId: `R${String(++n).padStart(21, '0')}`,
    stream: 'gw-1/0',
    seq: n,
    iat: T0 / 1000 + 10,
    outcome: 'EXECUTED',
    fills: [FILL],
    iss: 'req-1',
    jti: jti(),
    ...over,
  };
}

/** The exchange's listing of the order of receipt `r`, with this result (default: filled). */
function orderFor(
  r: ReceiptFact,
  result: ExchangeResult | { status: 'PENDING' } = { status: 'FILLED', fills: [FILL] },
): ExchangeListedOrder {
  const base = {
    clientOrderId: clientOrderIdOf(r.iss!, r.jti!),
    account: 'acct-1',
    placedAt: T0 + 5000,
  };
  if (result.status === 'FILLED') return { ...base, status: 'FILLED', fills: result.fills };
  if (result.status === 'PENDING') return { ...base, status: 'PENDING', fills: [] };
  return { ...base, status: 'REJECTED', fills: [], reason: result.reason };
}

function run(
  receipts: ReceiptFact[],
  orders: ExchangeListedOrder[],
  options: {
    inProgress?: InProgressRecord[];
    lookedUp?: Map<string, ExchangeResult | undefined>;
    now?: number;
  } = {},
) {
  return reconcile({
    index: indexReceipts(receipts),
    orders,
    lookedUp: options.lookedUp ?? new Map(),
    inProgress: options.inProgress ?? [],
    window,
    now: options.now ?? T0 + 7_200_000,
    stuckAfterMs: 60_000,
  });
}

const codes = (r: ReturnType<typeof run>) => r.findings.map((f) => f.code);

describe('reconcile', () => {
  it('matches each order with its receipt by the namespaced client order id: clean', () => {
    const executed = receipt();
    const failed = receipt({ outcome: 'FAILED', reason: 'EXCHANGE_REJECTED', fills: [] });
    const out = run(
      [executed, failed, receipt({ outcome: 'REJECTED', reason: 'EXPIRED', fills: [] })],
      [orderFor(executed), orderFor(failed, { status: 'REJECTED', reason: 'FOK_NOT_FILLABLE' })],
    );
    expect(out.findings).toEqual([]);
    expect(out.counts).toMatchObject({ exchangeOrders: 2, matched: 2, receiptsChecked: 2 });
  });

  it('EXECUTION_WITHOUT_RECEIPT: an order no receipt names, or whose request was only rejected', () => {
    const rejected = receipt({ outcome: 'REJECTED', reason: 'EXPIRED', fills: [] });
    const unknownOnly = receipt({ outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT', fills: [] });
    const planted = orderFor(receipt()); // a receipt that is not in the archive
    const out = run([rejected, unknownOnly], [orderFor(rejected), orderFor(unknownOnly), planted]);
    expect(codes(out)).toEqual(Array(3).fill('EXECUTION_WITHOUT_RECEIPT'));
    expect(out.findings[0]!.message).toContain(
      `request req-1#${rejected.jti} has only REJECTED EXPIRED`,
    );
    expect(out.findings[1]!.message).toContain('has only UNKNOWN EXCHANGE_TIMEOUT');
    expect(out.findings[2]!.message).toContain('no receipt names its request');
    expect(out.findings[2]!.message).toContain(planted.clientOrderId);
    expect(out.counts.matched).toBe(0);
  });

  it('an order whose request is IN_PROGRESS and not stuck is in flight, not a finding', () => {
    const r = receipt();
    const key = NonceKeys.request(r.iss!, r.jti!);
    const out = run([], [orderFor(r)], { inProgress: [{ key, leaseUntil: T0 + 7_190_000 }] });
    expect(out.findings).toEqual([]);
    expect(out.counts).toMatchObject({ inFlight: 1, inProgress: 1, stuck: 0 });
  });

  it('STUCK_IN_PROGRESS past lease + stuckAfterMs, with what the exchange holds; the order is also flagged', () => {
    const r = receipt();
    const key = NonceKeys.request(r.iss!, r.jti!);
    const leaseUntil = T0 + 7_200_000 - 60_000;
    const out = run([], [orderFor(r)], { inProgress: [{ key, leaseUntil }] });
    expect(codes(out)).toEqual(['EXECUTION_WITHOUT_RECEIPT', 'STUCK_IN_PROGRESS']);
    expect(out.findings[1]!.message).toContain(`nonce key ${key} is IN_PROGRESS`);
    expect(out.findings[1]!.message).toContain('its order at the exchange: FILLED 0.015@64000.10');
    // One millisecond less past its lease: not stuck yet, so the order counts as in flight.
    const live = run([], [orderFor(r)], { inProgress: [{ key, leaseUntil: leaseUntil + 1 }] });
    expect(live.findings).toEqual([]);
  });

  it('STUCK_IN_PROGRESS without an order names that too; idsToLookUp asks for it', () => {
    const r = receipt();
    const key = NonceKeys.request(r.iss!, r.jti!);
    const stuck = [{ key, leaseUntil: T0 }];
    expect(idsToLookUp(indexReceipts([]), [], window, stuck)).toEqual([
      clientOrderIdOf(r.iss!, r.jti!),
      r.jti,
    ]);
    const out = run([], [], { inProgress: stuck });
    expect(codes(out)).toEqual(['STUCK_IN_PROGRESS']);
    expect(out.findings[0]!.message).toContain('the exchange has no order for it');
  });

  it('RECEIPT_WITHOUT_EXECUTION: an EXECUTED receipt of the period whose order the exchange lacks', () => {
    const lost = receipt();
    const failedLost = receipt({ outcome: 'FAILED', reason: 'EXCHANGE_REJECTED', fills: [] });
    const index = indexReceipts([lost, failedLost]);
    const ids = idsToLookUp(index, [], window, []);
    expect(ids).toContain(clientOrderIdOf('req-1', lost.jti!));
    const out = run([lost, failedLost], [], {
      lookedUp: new Map(ids.map((id) => [id, undefined])),
    });
    // A FAILED receipt needs no order (the exchange may keep no record of a refusal).
    expect(codes(out)).toEqual(['RECEIPT_WITHOUT_EXECUTION']);
    expect(out.findings[0]).toMatchObject({ stream: 'gw-1/0', seq: lost.seq, jti: lost.receiptId });
  });

  it('a receipt of the period whose order was placed before it is found by lookup', () => {
    const r = receipt();
    const ids = idsToLookUp(indexReceipts([r]), [], window, []);
    const lookedUp = new Map<string, ExchangeResult | undefined>(ids.map((id) => [id, undefined]));
    lookedUp.set(clientOrderIdOf('req-1', r.jti!), { status: 'FILLED', fills: [FILL] });
    expect(run([r], [], { lookedUp }).findings).toEqual([]);
    // Issued after the period: not checked at all.
    const late = receipt({ iat: window.to / 1000 });
    expect(idsToLookUp(indexReceipts([late]), [], window, [])).toEqual([]);
    expect(run([late], []).findings).toEqual([]);
  });

  it('FILLS_MISMATCH: quantity, price, count, and filled vs rejected both ways', () => {
    const cases: [ReceiptFact, ExchangeResult][] = [
      [receipt(), { status: 'FILLED', fills: [{ quantity: '0.014', price: '64000.10' }] }],
      [receipt(), { status: 'FILLED', fills: [{ quantity: '0.015', price: '64000.11' }] }],
      [receipt(), { status: 'FILLED', fills: [FILL, FILL] }],
      [receipt(), { status: 'REJECTED', reason: 'IOC_NO_LIQUIDITY' }],
      [
        receipt({ outcome: 'FAILED', reason: 'EXCHANGE_REJECTED', fills: [] }),
        { status: 'FILLED', fills: [FILL] },
      ],
      [receipt(), { status: 'FILLED', fills: [{ quantity: '1e3', price: '64000.10' }] }],
    ];
    const out = run(
      cases.map(([r]) => r),
      cases.map(([r, result]) => orderFor(r, result)),
    );
    expect(codes(out)).toEqual(Array(cases.length).fill('FILLS_MISMATCH'));
    expect(out.findings[0]!.message).toContain(
      'receipt says fills 0.015@64000.10, the exchange 0.014@64000.10',
    );
    expect(out.findings[3]!.message).toContain(
      'the exchange rejected the order (IOC_NO_LIQUIDITY)',
    );
    expect(out.findings[4]!.message).toContain('the receipt says FAILED EXCHANGE_REJECTED');
    expect(out.findings[0]).toMatchObject({ jti: cases[0]![0].receiptId });
    // Exact decimals: 0.0150 is 0.015.
    const same = receipt();
    expect(
      run(
        [same],
        [orderFor(same, { status: 'FILLED', fills: [{ quantity: '0.0150', price: '64000.1' }] })],
      ).findings,
    ).toEqual([]);
  });

  it('an unreadable exchange record is a mismatch, never a crash', () => {
    const r = receipt();
    const broken = { ...orderFor(r), fills: 'x' } as unknown as ExchangeListedOrder;
    expect(codes(run([r], [broken]))).toEqual(['FILLS_MISMATCH']);
  });

  it('an order still matching at the exchange (PENDING) is in flight, with or without a receipt', () => {
    const receipted = receipt();
    const bare = receipt();
    const out = run(
      [receipted],
      [orderFor(receipted, { status: 'PENDING' }), orderFor(bare, { status: 'PENDING' })],
    );
    // Not a RECEIPT_WITHOUT_EXECUTION either: the exchange has the order, it is still matching.
    expect(out.findings).toEqual([]);
    expect(out.counts).toMatchObject({ exchangeOrders: 2, inFlight: 2, matched: 0 });
  });

  it('a second order for one request is an execution without a receipt', () => {
    const r = receipt();
    const legacyCopy: ExchangeListedOrder = { ...orderFor(r), clientOrderId: r.jti! };
    // Listed before the namespaced one, still the namespaced order gets the receipt.
    const out = run([r], [legacyCopy, orderFor(r)]);
    expect(codes(out)).toEqual(['EXECUTION_WITHOUT_RECEIPT']);
    expect(out.findings[0]!.message).toContain(`order ${r.jti} `);
    expect(out.findings[0]!.message).toContain('is a second order for request');
  });

  it('legacy (bare jti) order ids match when one request has that jti, not when several do', () => {
    const r = receipt();
    const legacy: ExchangeListedOrder = { ...orderFor(r), clientOrderId: r.jti! };
    const out = run([r], [legacy]);
    expect(out.findings).toEqual([]);
    expect(out.counts).toMatchObject({ matched: 1, legacyIds: 1 });
    const twin = receipt({ iss: 'req-2', jti: r.jti });
    const ambiguous = run([r, twin], [legacy]);
    expect(codes(ambiguous)).toContain('EXECUTION_WITHOUT_RECEIPT');
    expect(ambiguous.findings[0]!.message).toContain('is the jti of 2 requests');
  });

  it('requestKeyParts reads back what NonceKeys.request builds, and nothing else', () => {
    const j = jti();
    expect(requestKeyParts(NonceKeys.request('req-1', j))).toEqual({ iss: 'req-1', jti: j });
    expect(
      requestKeyParts(NonceKeys.message('0f8b8a4e-5e0c-4a53-8e58-5b6a2a8f1a77')),
    ).toBeUndefined();
    expect(requestKeyParts(NonceKeys.resolution(j))).toBeUndefined();
    expect(requestKeyParts('no-hash')).toBeUndefined();
    expect(requestKeyParts('req-1#short')).toBeUndefined();
  });
});
