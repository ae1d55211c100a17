// What a demo run found, and the expectations it checks: built from the receipts matched to this
// run's messages, the receipts of messages it did not send (an earlier, interrupted run), the
// audit replay of the archive and the exchange's own record. Verdicts are only given on what was
// computed: an interrupted run reports what it did and judges nothing.
import { FindingCodes, percentile } from '@countersign/contracts';
import type { AuditReport, CountersignConfig, FindingCode } from '@countersign/contracts';
import { formatVerdict } from '@countersign/audit';
import type { BadApple } from './bad-apples.ts';

export interface Expectation {
  readonly name: string;
  readonly expected: string;
  readonly actual: string;
  readonly ok: boolean;
}

export interface OutcomeCounts {
  readonly total: number;
  readonly byOutcome: Record<string, number>;
  readonly rejectedByReason: Record<string, number>;
}

export interface DemoSummary {
  /** Every expectation held. False when interrupted: nothing was judged. */
  readonly ok: boolean;
  readonly interrupted: boolean;
  readonly mode: CountersignConfig['mode'];
  readonly apiUrl: string;
  /** This run's messages. */
  readonly submitted: {
    readonly http: number;
    readonly httpFailed: number;
    /** Of `http`: orders over the policy's notional, planted to be rejected. */
    readonly overLimit: number;
    /** Bad tokens put straight on the queue. */
    readonly direct: number;
    readonly total: number;
  };
  /** Receipts of this run's messages, and of messages it did not send. */
  readonly receipts: OutcomeCounts & {
    /** This run's messages without a receipt yet (they stay in the queue for the next run). */
    readonly waiting: number;
    /** Receipts for messages this run did not send: an earlier, interrupted run's (or another client's). */
    readonly fromEarlierRuns: number;
    readonly earlier: OutcomeCounts;
    /** UNKNOWN receipts a follow-up receipt resolved (the message has both; counts show the last). */
    readonly unknownResolved: number;
  };
  /** Why each planted rejection was planted, by reason code. */
  readonly planted: Record<string, string>;
  readonly audit: {
    readonly liveVerified: number;
    readonly liveFindings: number;
    /** The audit replay: the whole archive (embedded), this run's window (aws). Null: not run. */
    readonly replay: {
      readonly scope: 'archive' | 'window';
      readonly receipts: number;
      readonly findings: number;
      readonly findingsByCode: Partial<Record<FindingCode, number>>;
      readonly streams: number;
      /** No finding about the chains themselves (gaps, links, conflicts, truncation). */
      readonly chain: 'intact' | 'broken';
    } | null;
    /** `audit reconcile` of this run's period (embedded mode): its verdict line. Null: not run. */
    readonly reconciliation: string | null;
    /** Why the replay or the reconciliation did not run. */
    readonly notRun: string | null;
  };
  /** Exchange executions against EXECUTED receipts; null when not counted (interrupted). */
  readonly exactlyOnce: {
    /** `data directory`: every run so far (embedded); `this run`: this process (aws). */
    readonly scope: 'data directory' | 'this run';
    readonly executions: number;
    readonly executedReceipts: number;
    readonly ok: boolean;
  } | null;
  /** Receipts (this run's and an earlier run's) audited per second of this run. */
  readonly throughputPerSec: number;
  /** This run's messages, from submit to receipt audited. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly durationMs: number;
  readonly expectations: readonly Expectation[];
}

export interface SeenReceipt {
  readonly outcome: string;
  readonly reason: string | undefined;
  readonly at: number;
}

export interface ExpectedEntry {
  readonly sentAt: number;
  readonly expect?: BadApple['expect'];
}

/** Counts of the receipts matched to this run's orders. */
export interface Tally {
  matched: number;
  executed: number;
  normal: number;
  normalExecuted: number;
  readonly byOutcome: Record<string, number>;
  readonly rejectedByReason: Record<string, number>;
  readonly latencies: number[];
}

export function newTally(): Tally {
  return {
    matched: 0,
    executed: 0,
    normal: 0,
    normalExecuted: 0,
    byOutcome: {},
    rejectedByReason: {},
    latencies: [],
  };
}

export function increment(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Adds one order and its receipt to the tally (bad apples' own checks are separate). */
export function foldReceipt(t: Tally, exp: ExpectedEntry, got: SeenReceipt): void {
  t.matched++;
  increment(t.byOutcome, got.outcome);
  if (got.reason && got.outcome === 'REJECTED') increment(t.rejectedByReason, got.reason);
  t.latencies.push(got.at - exp.sentAt);
  if (got.outcome === 'EXECUTED') t.executed++;
  if (!exp.expect) {
    t.normal++;
    if (got.outcome === 'EXECUTED') t.normalExecuted++;
  }
}

/** Findings about the chains themselves; others (a bad request inside a receipt) are not. */
const CHAIN_FINDINGS: ReadonlySet<FindingCode> = new Set([
  FindingCodes.SEQ_GAP,
  FindingCodes.CHAIN_BROKEN,
  FindingCodes.CONFLICTING_SEQ,
  FindingCodes.TAIL_TRUNCATED,
  FindingCodes.CHECKPOINT_INVALID,
  FindingCodes.CHECKPOINT_MISMATCH,
  FindingCodes.CHECKPOINT_CHAIN_BROKEN,
  FindingCodes.HISTORY_REWRITTEN,
  FindingCodes.STREAM_MISSING,
]);

export interface SummaryInput {
  readonly config: CountersignConfig;
  readonly apiUrl: string;
  /** Orders not folded into the tally yet (waiting, UNKNOWN, bad apples). */
  readonly expected: ReadonlyMap<string, ExpectedEntry>;
  readonly seen: ReadonlyMap<string, SeenReceipt>;
  readonly tally: Tally;
  /** Every message this run expects a receipt for. */
  readonly expectedCount: number;
  readonly httpOk: number;
  readonly httpFailed: number;
  readonly overLimit: number;
  readonly direct: number;
  readonly planted: Record<string, string>;
  readonly liveVerified: number;
  readonly liveFindings: number;
  /** UNKNOWN receipts followed by the receipt that resolved them. */
  readonly unknownResolved: number;
  readonly report: AuditReport | undefined;
  readonly reconciliation: AuditReport | undefined;
  /** Null when not counted. */
  readonly exactlyOnce: { readonly executions: number; readonly executedReceipts: number } | null;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly interrupted: boolean;
  /** This run's receipts that had not arrived when the demo stopped waiting (not interrupted). */
  readonly missing: number;
  readonly count: number;
}

function countsOf(receipts: readonly SeenReceipt[]): OutcomeCounts {
  const byOutcome: Record<string, number> = {};
  const rejectedByReason: Record<string, number> = {};
  for (const r of receipts) {
    increment(byOutcome, r.outcome);
    if (r.outcome === 'REJECTED' && r.reason) increment(rejectedByReason, r.reason);
  }
  return { total: receipts.length, byOutcome, rejectedByReason };
}

export function summarize(s: SummaryInput): DemoSummary {
  // What is still in the maps (waiting, UNKNOWN, bad apples) joins the folded tally here.
  const t = s.tally;
  const apples: Expectation[] = [];
  const earlier: SeenReceipt[] = [];
  for (const [id, got] of s.seen) if (!s.expected.has(id)) earlier.push(got);
  for (const [id, exp] of s.expected) {
    const got = s.seen.get(id);
    if (!got) {
      if (!exp.expect) t.normal++;
      else
        apples.push({
          name: `${exp.expect.reason ?? exp.expect.outcome} receipt`,
          expected: 'a receipt',
          actual: 'none',
          ok: false,
        });
      continue;
    }
    foldReceipt(t, exp, got);
    if (exp.expect) {
      const want = `${exp.expect.outcome}${exp.expect.reason ? ` ${exp.expect.reason}` : ''}`;
      const actual = `${got.outcome}${got.reason ? ` ${got.reason}` : ''}`;
      apples.push({
        name: `${exp.expect.reason ?? 'replayed token original'}`,
        expected: want,
        actual,
        ok: want === actual,
      });
    }
  }
  const mine = t.matched;
  const { byOutcome, rejectedByReason, latencies, normal, normalExecuted } = t;
  latencies.sort((a, b) => a - b);
  const report = s.report;
  const findingsByCode: Partial<Record<FindingCode, number>> = {};
  for (const f of report?.findings ?? []) increment(findingsByCode, f.code);
  const replay: DemoSummary['audit']['replay'] = report
    ? {
        scope: s.config.mode === 'embedded' ? ('archive' as const) : ('window' as const),
        receipts: report.summary.receipts,
        findings: report.findings.length + report.findingsOmitted,
        findingsByCode,
        streams: report.summary.streams.length,
        chain: report.findings.some((f) => CHAIN_FINDINGS.has(f.code)) ? 'broken' : 'intact',
      }
    : null;
  const reconciliationFindings = s.reconciliation
    ? s.reconciliation.findings.length + s.reconciliation.findingsOmitted
    : 0;
  const exactlyOnce = s.exactlyOnce
    ? {
        scope: s.config.mode === 'embedded' ? ('data directory' as const) : ('this run' as const),
        ...s.exactlyOnce,
        ok: s.exactlyOnce.executions === s.exactlyOnce.executedReceipts,
      }
    : null;
  // An interrupted run judges nothing: what it did not finish, the next run does.
  const expectations: Expectation[] = s.interrupted
    ? []
    : [
        {
          name: 'every submitted message got a receipt',
          expected: String(s.expectedCount),
          actual: String(mine),
          ok: mine === s.expectedCount,
        },
        {
          name: 'demo orders executed',
          expected: String(normal),
          actual: String(normalExecuted),
          ok: normal === normalExecuted && normal >= s.count,
        },
        ...apples,
        {
          // Every receipt the live audit saw: this run's, the earlier run's it processed, and
          // the UNKNOWN receipts their follow-ups resolved.
          name: 'receipts verified by live audit',
          expected: String(mine + earlier.length + s.unknownResolved),
          actual: String(s.liveVerified),
          ok: s.liveVerified >= mine + earlier.length + s.unknownResolved && s.liveFindings === 0,
        },
        {
          name: 'audit replay findings',
          expected: '0',
          actual: replay ? String(replay.findings) : 'not run',
          ok: replay?.findings === 0,
        },
        {
          name: 'receipt chains intact',
          expected: 'intact',
          actual: replay?.chain ?? 'not run',
          ok: replay?.chain === 'intact',
        },
        ...(s.config.mode === 'embedded'
          ? [
              {
                name: 'exchange reconciliation findings',
                expected: '0',
                actual: s.reconciliation ? String(reconciliationFindings) : 'not run',
                ok: s.reconciliation?.clean === true,
              },
            ]
          : []),
        {
          name: 'exchange executions = EXECUTED receipts',
          expected: exactlyOnce ? String(exactlyOnce.executedReceipts) : 'counted',
          actual: exactlyOnce ? String(exactlyOnce.executions) : 'not counted',
          ok: exactlyOnce?.ok === true,
        },
      ];
  const durationMs = Math.max(1, s.finishedAt - s.startedAt);
  const notRun = s.interrupted
    ? 'interrupted'
    : s.missing > 0
      ? `${s.missing} receipts of this run had not arrived when the demo stopped waiting (their messages stay in the queue): nothing was audited or counted on a history still being written`
      : s.config.mode === 'embedded'
        ? null
        : 'aws mode: no exchange adapter lists orders yet';
  return {
    ok: !s.interrupted && expectations.every((e) => e.ok),
    interrupted: s.interrupted,
    mode: s.config.mode,
    apiUrl: s.apiUrl,
    submitted: {
      http: s.httpOk,
      httpFailed: s.httpFailed,
      overLimit: s.overLimit,
      direct: s.direct,
      total: s.httpOk + s.direct,
    },
    receipts: {
      total: mine,
      byOutcome,
      rejectedByReason,
      waiting: s.expectedCount - mine,
      fromEarlierRuns: earlier.length,
      earlier: countsOf(earlier),
      unknownResolved: s.unknownResolved,
    },
    planted: s.planted,
    audit: {
      liveVerified: s.liveVerified,
      liveFindings: s.liveFindings,
      replay,
      reconciliation: s.reconciliation ? formatVerdict(s.reconciliation) : null,
      notRun,
    },
    exactlyOnce,
    // Every receipt of the period: an earlier run's messages take their share of the time.
    throughputPerSec: Math.round(((mine + earlier.length) / durationMs) * 1000 * 10) / 10,
    latencyMs: {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? 0,
    },
    durationMs,
    expectations,
  };
}
