// Exchange reconciliation, the thin reader: gathers the exchange's orders of a period, the nonce
// store's IN_PROGRESS records and the verified receipts, hands them to `reconcile` (pure, see
// reconcile.ts) and builds an ordinary AuditReport with a `reconciliation` section.
//
// Read order matters on a live system: orders first, then the nonce store, then receipts. An
// order listed before its receipt was published is then either IN_PROGRESS (in flight) or has
// its receipt in the archive by the time the archive is read. (A receipt completed but not yet
// published at that instant is the one window left: reconcile a period that ended a moment ago.)
import {
  AUDIT_REPORT_VERSION,
  verificationCodeOf,
  type AuditReport,
  type Clock,
  type Finding,
  type FindingCode,
  type Outcome,
} from '@countersign/contracts';
import type { EventArchive } from '@countersign/transport';
import type { FindingListener, TokenVerifiers } from './ports.ts';
import {
  idsToLookUp,
  indexReceipts,
  reconcile,
  stuckRecords,
  type ExchangeOrderSource,
  type ExchangeResult,
  type InProgressSource,
  type ReceiptFact,
} from './reconcile.ts';

export interface ReconcileOptions {
  readonly archive: EventArchive;
  readonly verifiers: TokenVerifiers;
  readonly exchange: ExchangeOrderSource;
  /** Without it, STUCK_IN_PROGRESS is not checked and no order counts as in flight. */
  readonly nonces?: InProgressSource;
  /** Epoch ms, inclusive. */
  readonly from: number;
  /** Epoch ms, exclusive. */
  readonly to: number;
  readonly clock: Clock;
  /** A record IN_PROGRESS this long past its lease is stuck. Default 60 s. */
  readonly stuckAfterMs?: number;
  /** Findings kept in the report (all are counted). Default 10,000. */
  readonly maxFindings?: number;
  readonly onFinding?: FindingListener;
  readonly signal?: AbortSignal;
}

/** Receipt signatures verified together (on the thread pool), as in a replay. */
const VERIFY_BATCH = 64;

interface ReceiptTally {
  events: number;
  duplicates: number;
  unverified: number;
  readonly byOutcome: Record<Outcome, number>;
  readonly rejectionsByReason: Record<string, number>;
}

/** Verified receipts of the archive from `from` on (to its end: late receipts still match). */
async function readReceipts(
  options: ReconcileOptions,
  tally: ReceiptTally,
): Promise<Map<string, ReceiptFact>> {
  const facts = new Map<string, ReceiptFact>();
  let batch: string[] = [];
  const flush = async () => {
    options.signal?.throwIfAborted();
    const verified = await Promise.all(
      batch.map((token) =>
        options.verifiers.receipt(token).then(
          (v) => v.claims,
          (err: unknown) => {
            // A forged or broken receipt proves nothing here (audit replay reports it); anything
            // else (keys unreadable) means reconciliation cannot run at all.
            if (verificationCodeOf(err) !== undefined) return undefined;
            throw err;
          },
        ),
      ),
    );
    batch = [];
    for (const claims of verified) {
      if (!claims) {
        tally.unverified++;
        continue;
      }
      if (facts.has(claims.jti)) {
        tally.duplicates++;
        continue;
      }
      tally.byOutcome[claims.outcome]++;
      if (claims.reason && claims.outcome !== 'EXECUTED') {
        tally.rejectionsByReason[claims.reason] =
          (tally.rejectionsByReason[claims.reason] ?? 0) + 1;
      }
      facts.set(claims.jti, {
        receiptId: claims.jti,
        stream: claims.stream,
        seq: claims.seq,
        iat: claims.iat,
        outcome: claims.outcome,
        reason: claims.reason,
        fills: claims.fills,
        iss: claims.req.iss,
        jti: claims.req.jti,
      });
    }
  };
  for await (const event of options.archive.read({ from: options.from })) {
    tally.events++;
    const receipt = (event.detail as { receipt?: unknown } | null)?.receipt;
    if (typeof receipt !== 'string') {
      tally.unverified++;
      continue;
    }
    batch.push(receipt);
    if (batch.length >= VERIFY_BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  return facts;
}

/** Reconciles the exchange's orders of [from, to) with the receipts; see reconcile.ts. */
export async function reconcileExchange(options: ReconcileOptions): Promise<AuditReport> {
  const { clock, signal } = options;
  const window = { from: options.from, to: options.to };
  const stuckAfterMs = options.stuckAfterMs ?? 60_000;

  const orders = await options.exchange.listOrders(window, signal);
  const inProgress = [...((await options.nonces?.listInProgress()) ?? [])];
  const now = clock.now();
  const tally: ReceiptTally = {
    events: 0,
    duplicates: 0,
    unverified: 0,
    byOutcome: { EXECUTED: 0, REJECTED: 0, FAILED: 0, UNKNOWN: 0 },
    rejectionsByReason: {},
  };
  const facts = await readReceipts(options, tally);

  const index = indexReceipts(facts.values());
  const lookedUp = new Map<string, ExchangeResult | undefined>();
  for (const id of idsToLookUp(
    index,
    orders,
    window,
    stuckRecords(inProgress, now, stuckAfterMs),
  )) {
    signal?.throwIfAborted();
    lookedUp.set(id, await options.exchange.getOrder(id, signal));
  }
  const { findings, counts } = reconcile({
    index,
    orders,
    lookedUp,
    inProgress,
    window,
    now,
    stuckAfterMs,
  });

  const maxFindings = options.maxFindings ?? 10_000;
  const findingsByCode: Partial<Record<FindingCode, number>> = {};
  const kept: Finding[] = [];
  for (const f of findings) {
    findingsByCode[f.code] = (findingsByCode[f.code] ?? 0) + 1;
    if (kept.length < maxFindings) kept.push(f);
    options.onFinding?.(f);
  }
  return {
    version: AUDIT_REPORT_VERSION,
    generatedAt: new Date(clock.now()).toISOString(),
    source: {
      kind: 'exchange-reconcile',
      from: new Date(options.from).toISOString(),
      to: new Date(options.to).toISOString(),
      gateway: null,
    },
    clean: findings.length === 0,
    summary: {
      events: tally.events,
      receipts: facts.size,
      duplicates: tally.duplicates,
      byOutcome: tally.byOutcome,
      rejectionsByReason: tally.rejectionsByReason,
      accounts: [],
      requesters: [],
      findingsByCode,
      streams: [],
    },
    findings: kept,
    findingsOmitted: findings.length - kept.length,
    reconciliation: { ...counts, unverifiedReceipts: tally.unverified },
  };
}
