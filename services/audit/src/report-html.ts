// One self-contained HTML file: inline CSS and SVG, no script, no network, no external font.
// Every value from the report is escaped (stream ids and messages come from signed-but-untrusted
// tokens); a CSP meta tag forbids loading anything even if an escape were missed.
import type { AuditReport, ReconciliationSummary, StreamSummary } from '@countersign/contracts';
import { describeProof } from './report-text.ts';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const COLORS = {
  executed: '#2e7d32',
  rejected: '#f9a825',
  failed: '#c62828',
  unknown: '#6a1b9a',
  missing: '#bdbdbd',
  finding: '#d50000',
} as const;

function timelineSvg(stream: StreamSummary): string {
  const bins = stream.timeline;
  if (bins.length === 0) return '<p class="muted">no receipts</p>';
  const width = 720;
  const height = 64;
  const barW = width / bins.length;
  const parts: string[] = [];
  bins.forEach((b, i) => {
    const total = b.toSeq - b.fromSeq + 1;
    const x = i * barW;
    let y = height;
    for (const key of ['executed', 'rejected', 'failed', 'unknown', 'missing'] as const) {
      const n = b[key];
      if (n === 0) continue;
      const h = (n / total) * (height - 14);
      y -= h;
      parts.push(
        `<rect x="${x.toFixed(2)}" y="${y.toFixed(2)}" width="${Math.max(barW - 0.5, 0.5).toFixed(2)}" height="${h.toFixed(2)}" fill="${COLORS[key]}"><title>${escapeHtml(`seq ${b.fromSeq}-${b.toSeq}: ${n} ${key}`)}</title></rect>`,
      );
    }
    if (b.findings > 0 || b.missing > 0) {
      const cx = x + barW / 2;
      parts.push(
        `<path class="finding-mark" d="M${(cx - 5).toFixed(2)} 0 L${(cx + 5).toFixed(2)} 0 L${cx.toFixed(2)} 9 Z" fill="${COLORS.finding}"><title>${escapeHtml(`seq ${b.fromSeq}-${b.toSeq}: ${b.findings} receipts with findings, ${b.missing} missing`)}</title></path>`,
      );
    }
  });
  const first = bins[0]!;
  const last = bins[bins.length - 1]!;
  const label = (t: number | null) => (t === null ? '' : new Date(t * 1000).toISOString());
  return `<svg class="timeline" role="img" aria-label="${escapeHtml(`timeline of ${stream.stream}`)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>
<div class="axis"><span>seq ${escapeHtml(first.fromSeq)} ${escapeHtml(label(first.fromTime))}</span><span>seq ${escapeHtml(last.toSeq)} ${escapeHtml(label(last.toTime))}</span></div>`;
}

function rows(cells: readonly (readonly unknown[])[]): string {
  const cell = (c: unknown) =>
    typeof c === 'number' ? `<td class="num">${escapeHtml(c)}</td>` : `<td>${escapeHtml(c)}</td>`;
  return cells.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('\n');
}

function head(cols: readonly string[]): string {
  return `<thead><tr>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>`;
}

/** The reconciliation section of an `audit reconcile` report (empty for other reports). */
function reconciliationHtml(r: ReconciliationSummary | undefined): string {
  if (!r) return '';
  return `<h2>Exchange reconciliation</h2>
<table id="reconciliation">${head(['what', 'count'])}<tbody>
${rows([
  ['exchange orders in the period', r.exchangeOrders],
  ['matched with their receipt', r.matched],
  ['in flight (IN_PROGRESS or still matching)', r.inFlight],
  ['legacy ids (bare jti)', r.legacyIds],
  ['receipts checked at the exchange', r.receiptsChecked],
  ['IN_PROGRESS now', r.inProgress],
  ['stuck IN_PROGRESS', r.stuck],
  ['receipts that did not verify', r.unverifiedReceipts],
])}
</tbody></table>
`;
}

export function renderHtml(report: AuditReport): string {
  const s = report.summary;
  const src = report.source;
  const findingTotal = report.findings.length + report.findingsOmitted;
  const legend = (['executed', 'rejected', 'failed', 'unknown', 'missing'] as const)
    .map((k) => `<span><i style="background:${COLORS[k]}"></i>${k}</span>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>countersign audit report</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#212121;max-width:1100px}
h1{font-size:1.4rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.status{display:inline-block;padding:.2rem .6rem;border-radius:4px;font-weight:600;color:#fff}
.clean{background:#2e7d32}.dirty{background:#c62828}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num,td.dec{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#757575}.grid{display:flex;flex-wrap:wrap;gap:2rem}
.axis{display:flex;justify-content:space-between;width:720px;font-size:.75rem;color:#757575}
.legend span{margin-right:1rem;font-size:.8rem}.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
</style>
</head>
<body>
<h1>countersign audit report</h1>
<p class="muted">${escapeHtml(src.kind)}${src.from ? ` from ${escapeHtml(src.from)}` : ''}${src.to ? ` to ${escapeHtml(src.to)}` : ''}${src.gateway ? `, gateway ${escapeHtml(src.gateway)}` : ''}; generated ${escapeHtml(report.generatedAt)}</p>
<p><span id="status" class="status ${report.clean ? 'clean' : 'dirty'}">${report.clean ? 'CLEAN' : `${escapeHtml(findingTotal)} FINDINGS`}</span>
 ${escapeHtml(s.receipts)} receipts, ${escapeHtml(s.events)} events, ${escapeHtml(s.duplicates)} duplicates</p>

${reconciliationHtml(report.reconciliation)}
<h2>Summary</h2>
<div class="grid">
<table id="summary-outcomes">${head(['outcome', 'receipts'])}<tbody>
${rows(Object.entries(s.byOutcome))}
</tbody></table>
<table id="summary-reasons">${head(['not executed, reason', 'receipts'])}<tbody>
${rows(Object.entries(s.rejectionsByReason))}
</tbody></table>
<table id="summary-findings">${head(['finding', 'count'])}<tbody>
${rows(Object.entries(s.findingsByCode))}
</tbody></table>
</div>
<table id="summary-accounts">${head(['account', 'receipts', 'executed', 'notional'])}<tbody>
${rows(s.accounts.map((p) => [p.id, p.receipts, p.executed, p.notional]))}
</tbody></table>
<table id="summary-requesters">${head(['requester', 'receipts', 'executed', 'notional'])}<tbody>
${rows(s.requesters.map((p) => [p.id, p.receipts, p.executed, p.notional]))}
</tbody></table>

<h2>Streams</h2>
<p class="legend">${legend}<span><i style="background:${COLORS.finding}"></i>finding or gap (marker)</span></p>
${s.streams
  .map(
    (st) => `<section class="stream" data-stream="${escapeHtml(st.stream)}">
<h3><code>${escapeHtml(st.stream)}</code> <span class="status ${st.status === 'ok' ? 'clean' : 'dirty'}">${escapeHtml(st.status)}</span></h3>
<p class="muted">seq ${escapeHtml(st.firstSeq ?? '-')}..${escapeHtml(st.lastSeq ?? '-')}, ${escapeHtml(st.receipts)} receipts, ${escapeHtml(st.missing)} missing, checkpoint ${escapeHtml(st.checkpointSeq ?? '-')}</p>
<p class="proof">proven: ${escapeHtml(describeProof(st.proof))}</p>
${timelineSvg(st)}
</section>`,
  )
  .join('\n')}

${(report.notes ?? []).map((n) => `<p class="note">note: ${escapeHtml(n)}</p>`).join('\n')}
${report.memory ? `<p class="muted" id="memory">state ${escapeHtml(report.memory.file)}: loaded ${escapeHtml(report.memory.loaded ? `#${report.memory.loaded.n} ${report.memory.loaded.sha256}` : 'none')}, saved ${escapeHtml(report.memory.saved ? `#${report.memory.saved.n} ${report.memory.saved.sha256}` : 'none')}</p>` : ''}

<h2>Findings</h2>
${
  report.findings.length === 0
    ? '<p id="no-findings">No findings.</p>'
    : `<table id="findings">${head(['code', 'stream', 'seq', 'receipt', 'message', 'verifier'])}<tbody>
${rows(report.findings.map((f) => [f.code, f.stream ?? '-', f.seq ?? '-', f.jti ?? '-', f.message, f.verifierCode ?? '']))}
</tbody></table>${report.findingsOmitted > 0 ? `<p>${escapeHtml(report.findingsOmitted)} more findings omitted (counted in the summary).</p>` : ''}`
}
</body>
</html>
`;
}
