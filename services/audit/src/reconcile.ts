// Exchange reconciliation, the pure part. Receipts alone cannot show an order that filled without
// one, so audit compares the exchange's own record of a period with the signed receipts and the
// nonce store (reconcile-reader.ts gathers them; nothing here does I/O or reads the clock):
//
//   exchange order (placed in [from, to))     receipts (verified, any time)      finding
//   ─────────────────────────────────────     ─────────────────────────────      ───────────────────────────
//   id = clientOrderIdOf(iss, jti)            EXECUTED/FAILED for iss#jti        compared: FILLS_MISMATCH
//   id of no request, or only REJECTED /      -                                  EXECUTION_WITHOUT_RECEIPT
//     UNKNOWN receipts for it                   (unless iss#jti is IN_PROGRESS and not stuck: in flight)
//   a second order for one request            -                                  EXECUTION_WITHOUT_RECEIPT
//   -                                         EXECUTED (issued in [from, to)),   RECEIPT_WITHOUT_EXECUTION
//                                               no order under its id
//   nonce record IN_PROGRESS, lease + stuckAfterMs ≤ now                         STUCK_IN_PROGRESS
//
// Orders placed before client order ids were namespaced by issuer carry the bare jti: they are
// matched by jti when exactly one request has it (counted as `legacyIds`). An order the exchange
// reports PENDING (an IOC/FOK still matching) is in flight too: it cannot have its receipt yet.
import {
  clientOrderIdOf,
  compareDecimals,
  NonceKeys,
  requestKeyParts,
  type ExecResult,
  type Fill,
  type Finding,
  type ListedOrder,
  type FindingCode,
  type Outcome,
  type ReconciliationSummary,
} from '@countersign/contracts';

/** What the exchange recorded for an order (contracts' ExecResult, as the gateway receipts it). */
export type ExchangeResult = ExecResult;

/** An order as the exchange lists it (contracts' ListedOrder). */
export type ExchangeListedOrder = ListedOrder;

/** The exchange as reconciliation reads it (the gateway's `Exchange` with `listOrders` fits). */
export interface ExchangeOrderSource {
  listOrders(
    range: { readonly from: number; readonly to: number },
    signal?: AbortSignal,
  ): Promise<readonly ExchangeListedOrder[]>;
  getOrder(clientOrderId: string, signal?: AbortSignal): Promise<ExchangeResult | undefined>;
}

export interface InProgressRecord {
  readonly key: string;
  /** Epoch ms. */
  readonly leaseUntil: number;
}

/** The nonce store's IN_PROGRESS records (replay-guard's `openSqliteNonceReader` fits). */
export interface InProgressSource {
  listInProgress(): Promise<readonly InProgressRecord[]>;
}

/** The fields of a verified receipt that reconciliation compares. */
export interface ReceiptFact {
  readonly receiptId: string;
  readonly stream: string;
  readonly seq: number;
  /** Epoch seconds. */
  readonly iat: number;
  readonly outcome: Outcome;
  readonly reason?: string | undefined;
  readonly fills: readonly Fill[];
  /** The request's issuer and jti (null on a receipt for a token that never verified). */
  readonly iss: string | null;
  readonly jti: string | null;
}

export interface ReconcileWindow {
  /** Epoch ms, inclusive. */
  readonly from: number;
  /** Epoch ms, exclusive. */
  readonly to: number;
}

interface RequestEntry {
  readonly key: string;
  readonly jti: string;
  readonly orderId: string;
  readonly receipts: ReceiptFact[];
}

/** Receipts by request, by the request's client order id and (legacy ids) by bare jti. */
export interface ReceiptIndex {
  readonly byKey: ReadonlyMap<string, RequestEntry>;
  readonly byOrderId: ReadonlyMap<string, RequestEntry>;
  readonly byJti: ReadonlyMap<string, readonly RequestEntry[]>;
}

/** `cs` + 32 base64url characters: the namespaced form; anything else is a legacy (bare jti) id. */
const NAMESPACED_ID = /^cs[A-Za-z0-9_-]{32}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,19})(\.[0-9]{1,18})?$/;

const isTerminal = (r: ReceiptFact): boolean => r.outcome === 'EXECUTED' || r.outcome === 'FAILED';
const inWindow = (r: ReceiptFact, w: ReconcileWindow): boolean =>
  r.iat * 1000 >= w.from && r.iat * 1000 < w.to;

export function indexReceipts(receipts: Iterable<ReceiptFact>): ReceiptIndex {
  const byKey = new Map<string, RequestEntry>();
  const byOrderId = new Map<string, RequestEntry>();
  const byJti = new Map<string, RequestEntry[]>();
  for (const r of receipts) {
    if (r.iss === null || r.jti === null) continue;
    const key = NonceKeys.request(r.iss, r.jti);
    let entry = byKey.get(key);
    if (!entry) {
      entry = { key, jti: r.jti, orderId: clientOrderIdOf(r.iss, r.jti), receipts: [] };
      byKey.set(key, entry);
      byOrderId.set(entry.orderId, entry);
      const same = byJti.get(r.jti);
      if (same) same.push(entry);
      else byJti.set(r.jti, [entry]);
    }
    entry.receipts.push(r);
  }
  return { byKey, byOrderId, byJti };
}

/** The exchange ids of a nonce key: namespaced, and the bare jti of a legacy order. */
function orderIdsOfKey(key: string): readonly string[] {
  const parts = requestKeyParts(key);
  return parts ? [clientOrderIdOf(parts.iss, parts.jti), parts.jti] : [];
}

/**
 * Orders to ask the exchange for by id: those of terminal receipts issued in the window whose
 * order was not listed (placed before `from`, or missing), and those of stuck requests.
 */
export function idsToLookUp(
  index: ReceiptIndex,
  orders: readonly ExchangeListedOrder[],
  window: ReconcileWindow,
  stuck: readonly InProgressRecord[],
): string[] {
  const listed = new Set(orders.map((o) => o.clientOrderId));
  const ids = new Set<string>();
  for (const entry of index.byKey.values()) {
    if (listed.has(entry.orderId) || listed.has(entry.jti)) continue;
    if (!entry.receipts.some((r) => isTerminal(r) && inWindow(r, window))) continue;
    ids.add(entry.orderId);
    ids.add(entry.jti);
  }
  for (const s of stuck) for (const id of orderIdsOfKey(s.key)) ids.add(id);
  return [...ids];
}

/** IN_PROGRESS records whose lease ended at least `stuckAfterMs` before `now`. */
export function stuckRecords(
  inProgress: readonly InProgressRecord[],
  now: number,
  stuckAfterMs: number,
): InProgressRecord[] {
  return inProgress.filter((r) => r.leaseUntil + stuckAfterMs <= now);
}

export interface ReconcileInput {
  readonly index: ReceiptIndex;
  /** The exchange's orders placed in the window. */
  readonly orders: readonly ExchangeListedOrder[];
  /** Results of `idsToLookUp` (undefined: the exchange does not know the id). */
  readonly lookedUp: ReadonlyMap<string, ExchangeResult | undefined>;
  readonly inProgress: readonly InProgressRecord[];
  readonly window: ReconcileWindow;
  /** Epoch ms the nonce store was read. */
  readonly now: number;
  readonly stuckAfterMs: number;
}

export type ReconcileCounts = Omit<ReconciliationSummary, 'unverifiedReceipts'>;

export interface ReconcileOutcome {
  readonly findings: readonly Finding[];
  readonly counts: ReconcileCounts;
}

const clip = (value: string, max = 64): string => value.slice(0, max);
const iso = (ms: number): string => new Date(ms).toISOString();

function formatFills(fills: readonly Fill[]): string {
  if (fills.length === 0) return 'none';
  const shown = fills.slice(0, 5).map((f) => `${clip(f.quantity, 24)}@${clip(f.price, 24)}`);
  return `${shown.join(' + ')}${fills.length > 5 ? ` (+${fills.length - 5} more)` : ''}`;
}

function formatResult(result: ExchangeResult | undefined): string {
  if (!result) return 'an unreadable record';
  return result.status === 'FILLED'
    ? `FILLED ${formatFills(result.fills)}`
    : `REJECTED (${clip(result.reason)})`;
}

/** Exact decimal comparison; anything that is not a decimal string never matches. */
function sameFills(a: readonly Fill[], b: readonly Fill[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i]!;
    if (![x.quantity, x.price, y.quantity, y.price].every((v) => DECIMAL.test(v))) return false;
    return compareDecimals(x.quantity, y.quantity) === 0 && compareDecimals(x.price, y.price) === 0;
  });
}

/** Why a receipt and the exchange's record disagree, or undefined when they agree. */
function mismatch(order: ExchangeResult, r: ReceiptFact): string | undefined {
  if (r.outcome === 'EXECUTED') {
    if (order.status === 'REJECTED') {
      return `the receipt says EXECUTED ${formatFills(r.fills)}, the exchange rejected the order (${clip(order.reason)})`;
    }
    if (!sameFills(r.fills, order.fills)) {
      return `the receipt says fills ${formatFills(r.fills)}, the exchange ${formatFills(order.fills)}`;
    }
    return undefined;
  }
  if (r.outcome === 'FAILED' && order.status === 'FILLED') {
    return `the receipt says FAILED ${r.reason ?? ''}, the exchange filled ${formatFills(order.fills)}`;
  }
  return undefined;
}

/** What the receipts of a request say, for a finding's message. */
function receiptsSay(entry: RequestEntry | undefined): string {
  if (!entry) return 'no receipt names its request';
  const outcomes = entry.receipts.map((r) => `${r.outcome}${r.reason ? ` ${r.reason}` : ''}`);
  return `its request ${entry.key} has only ${[...new Set(outcomes)].join(', ')}`;
}

/** What a listed order says, as a result (undefined for a PENDING or unreadable one). */
function resultOf(order: ExchangeListedOrder): ExchangeResult | undefined {
  return readableResult(
    order.status === 'FILLED'
      ? { status: 'FILLED', fills: order.fills }
      : order.status === 'REJECTED'
        ? { status: 'REJECTED', reason: order.reason ?? '' }
        : undefined,
  );
}

/** Well-formed exchange records only: the exchange's data file is not trusted either. */
function readableResult(result: unknown): ExchangeResult | undefined {
  const r = result as { status?: unknown; fills?: unknown; reason?: unknown } | null;
  if (r?.status === 'REJECTED' && typeof r.reason === 'string') return r as ExchangeResult;
  if (
    r?.status === 'FILLED' &&
    Array.isArray(r.fills) &&
    r.fills.every(
      (f: { quantity?: unknown; price?: unknown } | null) =>
        typeof f?.quantity === 'string' && typeof f.price === 'string',
    )
  ) {
    return r as ExchangeResult;
  }
  return undefined;
}

/** Compares the exchange's record with the receipts and the nonce store; see the table above. */
export function reconcile(input: ReconcileInput): ReconcileOutcome {
  const { index, window } = input;
  const findings: Finding[] = [];
  const add = (code: FindingCode, message: string, receipt: ReceiptFact | null = null): void =>
    void findings.push({
      code,
      stream: receipt?.stream ?? null,
      seq: receipt?.seq ?? null,
      jti: receipt?.receiptId ?? null,
      message,
    });

  const stuck = stuckRecords(input.inProgress, input.now, input.stuckAfterMs);
  const stuckKeys = new Set(stuck.map((s) => s.key));
  // Requests still being handled: their receipt may simply not be out yet.
  const inFlightIds = new Set<string>();
  for (const r of input.inProgress) {
    if (!stuckKeys.has(r.key)) for (const id of orderIdsOfKey(r.key)) inFlightIds.add(id);
  }

  let matched = 0;
  let inFlight = 0;
  let legacyIds = 0;
  /** Request key → the order id matched to it (one order per request). */
  const claimed = new Map<string, string>();
  const listed = new Map<string, ExchangeListedOrder>();
  // Namespaced ids first, so a legacy id can never take a request from its real order.
  const ordered = [
    ...input.orders.filter((o) => NAMESPACED_ID.test(o.clientOrderId)),
    ...input.orders.filter((o) => !NAMESPACED_ID.test(o.clientOrderId)),
  ];
  for (const order of ordered) {
    listed.set(order.clientOrderId, order);
    const legacy = !NAMESPACED_ID.test(order.clientOrderId);
    if (legacy) legacyIds++;
    const candidates = legacy ? (index.byJti.get(order.clientOrderId) ?? []) : [];
    const entry = legacy
      ? candidates.length === 1
        ? candidates[0]
        : undefined
      : index.byOrderId.get(order.clientOrderId);
    const terminal = entry?.receipts.filter(isTerminal) ?? [];
    if (order.status === 'PENDING') {
      // Still matching at the exchange: its receipt cannot exist yet.
      inFlight++;
      if (entry) claimed.set(entry.key, order.clientOrderId);
      continue;
    }
    const result = resultOf(order);
    const placed = order.placedAt > 0 ? `, placed ${iso(order.placedAt)}` : '';
    const what = `order ${clip(order.clientOrderId)} of account ${clip(order.account)} (${formatResult(result)}${placed})`;
    if (terminal.length === 0 || !entry) {
      if (inFlightIds.has(order.clientOrderId)) {
        inFlight++;
        continue;
      }
      const why =
        legacy && candidates.length > 1
          ? `its legacy id is the jti of ${candidates.length} requests (${candidates.map((c) => c.key).join(', ')})`
          : `${receiptsSay(entry)}${entry && stuckKeys.has(entry.key) ? ', still IN_PROGRESS' : ''}`;
      add('EXECUTION_WITHOUT_RECEIPT', `${what} has no EXECUTED/FAILED receipt: ${why}`);
      continue;
    }
    const first = claimed.get(entry.key);
    if (first !== undefined) {
      add(
        'EXECUTION_WITHOUT_RECEIPT',
        `${what} is a second order for request ${entry.key}, whose receipt is matched with order ${clip(first)}`,
      );
      continue;
    }
    claimed.set(entry.key, order.clientOrderId);
    matched++;
    for (const r of terminal) {
      const why = result ? mismatch(result, r) : 'the exchange record of the order is unreadable';
      if (why) add('FILLS_MISMATCH', `${what}: ${why}`, r);
    }
  }

  // EXECUTED/FAILED receipts of the window whose order was not listed in it.
  let receiptsChecked = 0;
  for (const entry of index.byKey.values()) {
    const due = entry.receipts.filter((r) => isTerminal(r) && inWindow(r, window));
    if (due.length === 0) continue;
    receiptsChecked += due.length;
    if (claimed.has(entry.key)) continue;
    const ids = [entry.orderId, entry.jti];
    const known = ids.map((id) => {
      const order = listed.get(id);
      return order ? resultOf(order) : input.lookedUp.get(id);
    });
    const found = known.find((r) => r !== undefined);
    for (const r of due) {
      if (found === undefined) {
        if (r.outcome === 'EXECUTED') {
          add(
            'RECEIPT_WITHOUT_EXECUTION',
            `EXECUTED receipt for request ${entry.key} (fills ${formatFills(r.fills)}): the exchange has no order ${entry.orderId}`,
            r,
          );
        }
        continue;
      }
      const result = readableResult(found);
      const why = result ? mismatch(result, r) : 'the exchange record of the order is unreadable';
      if (why) add('FILLS_MISMATCH', `order ${entry.orderId} of request ${entry.key}: ${why}`, r);
    }
  }

  for (const s of stuck) {
    const ids = orderIdsOfKey(s.key);
    const atExchange = ids
      .map((id) => {
        const order = listed.get(id);
        return order ? resultOf(order) : input.lookedUp.get(id);
      })
      .find((r) => r !== undefined);
    add(
      'STUCK_IN_PROGRESS',
      `nonce key ${clip(s.key, 100)} is IN_PROGRESS, its lease ran out at ${iso(s.leaseUntil)}${ids.length === 0 ? '' : atExchange === undefined ? '; the exchange has no order for it' : `; its order at the exchange: ${formatResult(readableResult(atExchange))}`}`,
    );
  }

  return {
    findings,
    counts: {
      exchangeOrders: input.orders.length,
      matched,
      inFlight,
      legacyIds,
      receiptsChecked,
      inProgress: input.inProgress.length,
      stuck: stuck.length,
    },
  };
}
