// The demo's final table, for people. `--json` prints the DemoSummary itself instead.
// Counts say whose they are: this run's messages, messages this run did not send (an earlier,
// interrupted run's), or the whole data directory. An interrupted run shows what it did and no
// verdict: what it did not finish, the next run does.
import type { DemoSummary, OutcomeCounts } from './summary.ts';

type Row = readonly [string, string];

function table(rows: readonly Row[], width: number): string[] {
  return rows.map(([k, v]) => `    ${k.padEnd(width)}  ${v}`);
}

const EXPIRED_WHY = "the token's lifetime ran out before the gateway got to it";

/** Why a receipt was REJECTED with `reason`, as far as the demo knows. */
function why(s: DemoSummary, reason: string, earlier: boolean): string {
  if (!earlier && s.planted[reason]) return s.planted[reason];
  if (reason === 'EXPIRED') return EXPIRED_WHY;
  return 'not planted by the demo: see `countersign audit replay` for the receipts';
}

function outcomeRows(
  s: DemoSummary,
  counts: OutcomeCounts,
  earlier: boolean,
  unknownResolved = 0,
): Row[] {
  const n = (outcome: string) => String(counts.byOutcome[outcome] ?? 0);
  const reasons = Object.entries(counts.rejectedByReason)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, count]): Row => [`  ${reason}`, `${count}  ${why(s, reason, earlier)}`]);
  return [
    ['executed', n('EXECUTED')],
    ['rejected', n('REJECTED')],
    ...reasons,
    [
      'failed / unknown',
      `${n('FAILED')} / ${n('UNKNOWN')}${unknownResolved > 0 ? ` (${unknownResolved} UNKNOWN resolved by a follow-up receipt)` : ''}`,
    ],
  ];
}

function submittedText(s: DemoSummary): string {
  const { http, overLimit, direct, total, httpFailed } = s.submitted;
  const parts = [
    `${http} via the HTTP API${overLimit > 0 ? ` (${overLimit} over the policy limit)` : ''}`,
    ...(direct > 0 ? [`${direct} bad tokens put on the queue directly`] : []),
    ...(httpFailed > 0 ? [`${httpFailed} refused by the API`] : []),
  ];
  return `${total}: ${parts.join(', ')}`;
}

function duration(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;
}

export function renderSummary(s: DemoSummary): string {
  const r = s.receipts;
  const thisRun: Row[] = [
    ['submitted', submittedText(s)],
    ['receipts', s.interrupted ? `${r.total} so far` : String(r.total)],
    ...outcomeRows(s, r, false, r.unknownResolved),
  ];
  if (s.interrupted) {
    thisRun.push([
      'no receipt yet',
      `${r.waiting}: still in the queue (or in flight), processed on the next run`,
    ]);
  }
  const earlier: Row[] =
    r.fromEarlierRuns > 0
      ? [['receipts', String(r.fromEarlierRuns)], ...outcomeRows(s, r.earlier, true)]
      : [];
  // What this run's period measured, earlier runs' messages included.
  const period: Row[] = [
    ['verified by live audit', `${s.audit.liveVerified} (${s.audit.liveFindings} findings)`],
  ];
  if (s.audit.reconciliation) period.push(['exchange reconciliation', s.audit.reconciliation]);
  if (!s.interrupted) {
    period.push(
      ['throughput', `${s.throughputPerSec} tx/s (submit → receipt audited)`],
      [
        'latency',
        `p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`,
      ],
    );
  }
  const all: Row[] = [];
  const replay = s.audit.replay;
  if (replay) {
    const codes = Object.entries(replay.findingsByCode)
      .map(([code, n]) => `${code} ${n}`)
      .join(', ');
    all.push(
      [
        'audit replay',
        `${replay.receipts} receipts, ${replay.findings} findings${codes ? ` (${codes})` : ''}, ${replay.streams} stream(s)`,
      ],
      ['chain', replay.chain],
    );
  }
  if (!replay && !s.interrupted) {
    all.push(['audit replay', `not run: ${s.audit.notRun ?? 'no reason recorded'}`]);
  } else if (replay && !s.audit.reconciliation && s.audit.notRun) {
    all.push(['exchange reconciliation', `not run: ${s.audit.notRun}`]);
  }
  if (s.exactlyOnce) {
    all.push([
      'exactly once',
      `${s.exactlyOnce.executions} executions for ${s.exactlyOnce.executedReceipts} EXECUTED receipts`,
    ]);
  }
  const width = Math.max(...[...thisRun, ...earlier, ...period, ...all].map(([k]) => k.length));
  const scope =
    s.mode === 'embedded'
      ? 'the whole data directory (every run so far)'
      : "this run's window of the archive";
  const sections: [string, Row[]][] =
    earlier.length > 0
      ? [
          ['this run', thisRun],
          ['messages of an earlier run (left in the queue when it stopped)', earlier],
          ["this run's period (both of the above)", period],
        ]
      : [[s.interrupted ? 'this run, so far' : 'this run', [...thisRun, ...period]]];
  sections.push([scope, all]);
  const lines = [
    '',
    `countersign demo (${s.mode})${s.interrupted ? ` — interrupted after ${duration(s.durationMs)}` : ''}`,
    ...sections
      .filter(([, rows]) => rows.length > 0)
      .flatMap(([title, rows]) => [`  ${title}`, ...table(rows, width)]),
    '',
  ];
  if (s.interrupted) {
    lines.push(
      'Interrupted: nothing was judged (no audit replay, reconciliation or exactly-once count).',
      'Start it again on the same data directory: the rest is processed, nothing executes twice,',
      'and that run audits everything.',
      '',
    );
    return lines.join('\n');
  }
  lines.push(
    'expectations',
    ...s.expectations.map(
      (e) => `  ${e.ok ? 'ok  ' : 'FAIL'}  ${e.name}: expected ${e.expected}, got ${e.actual}`,
    ),
    '',
    s.ok
      ? 'everything matched: signed, verified, executed once, receipted and audited.'
      : 'NOT everything matched expectations (see FAIL above).',
    '',
  );
  return lines.join('\n');
}
