// The demo's final table, for people. `--json` prints the DemoSummary itself instead.
import type { DemoSummary } from './run-demo.ts';

function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

export function renderSummary(s: DemoSummary): string {
  const reasons = Object.entries(s.receipts.rejectedByReason)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, n]) => [`  rejected ${reason}`, String(n)] as const);
  const lines = [
    '',
    `countersign demo (${s.mode})${s.interrupted ? ' — interrupted' : ''}`,
    table([
      [
        'submitted',
        `${s.submitted.total} (${s.submitted.http} via HTTP API, ${s.submitted.direct} bad apples put on the queue directly)`,
      ],
      ['receipts', String(s.receipts.total)],
      ['executed', String(s.receipts.byOutcome.EXECUTED ?? 0)],
      ['rejected', String(s.receipts.byOutcome.REJECTED ?? 0)],
      ...reasons,
      [
        'failed / unknown',
        `${s.receipts.byOutcome.FAILED ?? 0} / ${s.receipts.byOutcome.UNKNOWN ?? 0}`,
      ],
      ['from earlier runs', String(s.receipts.fromEarlierRuns)],
      ['verified by live audit', `${s.audit.liveVerified} (${s.audit.liveFindings} findings)`],
      [
        'audit replay',
        `${s.audit.replayReceipts} receipts, ${s.audit.replayFindings} findings, ${s.audit.streams} stream(s)`,
      ],
      ['chain', s.audit.chain],
      ['exchange reconciliation', s.audit.reconciliation],
      [
        'exactly once',
        `${s.exactlyOnce.executions} executions for ${s.exactlyOnce.executedReceipts} EXECUTED receipts`,
      ],
      ['throughput', `${s.throughputPerSec} tx/s (submit → receipt audited)`],
      [
        'latency',
        `p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`,
      ],
    ]),
    '',
    'expectations',
    ...s.expectations.map(
      (e) => `  ${e.ok ? 'ok  ' : 'FAIL'}  ${e.name}: expected ${e.expected}, got ${e.actual}`,
    ),
    '',
    s.ok
      ? 'everything matched: signed, verified, executed once, receipted and audited.'
      : 'NOT everything matched expectations (see FAIL above).',
    '',
  ];
  return lines.join('\n');
}
