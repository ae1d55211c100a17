// Plain-text rendering of an audit report: summary tables, then one line per finding.
import type { AuditReport, Finding, StreamProof } from '@countersign/contracts';

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** One line: `CODE stream#seq jti: message`. Control characters are escaped. */
export function formatFinding(f: Finding): string {
  const where = f.stream === null ? '-' : `${f.stream}#${f.seq ?? '?'}`;
  const verifier = f.verifierCode ? ` [${f.verifierCode}]` : '';
  return `${f.code} ${where} ${f.jti ?? '-'}: ${f.message}${verifier}`.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** `genesis 1..500, 20 after checkpoint #12`: where the proof starts and ends. */
export function describeProof(p: StreamProof): string {
  if (p.start === 'none' || p.startSeq === null) return 'nothing';
  const range = p.endSeq === null ? `from ${p.startSeq}` : `${p.startSeq}..${p.endSeq}`;
  const cp = p.checkpointIndex === null ? ', no checkpoint' : `, checkpoint #${p.checkpointIndex}`;
  const tail = p.unconfirmed > 0 ? `, ${p.unconfirmed} after it` : '';
  return `${p.start} ${range}${cp}${tail}`;
}

/** The one-line verdict: `CLEAN: …` or `FINDINGS: …` with the counts that matter. */
export function formatVerdict(report: AuditReport): string {
  const s = report.summary;
  const rec = report.reconciliation;
  const findings = report.findings.length + report.findingsOmitted;
  const counts = rec
    ? `${rec.exchangeOrders} exchange orders, ${rec.matched} matched with their receipt, ${rec.inFlight} in flight, ${s.receipts} receipts, ${findings} findings`
    : `${s.receipts} receipts, ${s.events} events, ${s.duplicates} duplicates, ${findings} findings`;
  return `${report.clean ? 'CLEAN' : 'FINDINGS'}: ${counts}`;
}

export function renderText(report: AuditReport): string {
  const s = report.summary;
  const out: string[] = [];
  const src = report.source;
  out.push(
    `countersign audit (${src.kind}${src.from ? ` from ${src.from}` : ''}${src.to ? ` to ${src.to}` : ''}${src.gateway ? `, gateway ${src.gateway}` : ''}) at ${report.generatedAt}`,
  );
  out.push(formatVerdict(report));
  const rec = report.reconciliation;
  if (rec) {
    out.push('', 'Exchange reconciliation');
    out.push(
      table(
        ['what', 'count'],
        [
          ['exchange orders in the period', String(rec.exchangeOrders)],
          ['matched with their receipt', String(rec.matched)],
          ['in flight (IN_PROGRESS or still matching)', String(rec.inFlight)],
          ['legacy ids (bare jti)', String(rec.legacyIds)],
          ['receipts checked at the exchange', String(rec.receiptsChecked)],
          ['IN_PROGRESS now / stuck', `${rec.inProgress} / ${rec.stuck}`],
          ['receipts that did not verify', String(rec.unverifiedReceipts)],
        ],
      ),
    );
  }
  out.push('', 'Receipts by outcome');
  out.push(
    table(
      ['outcome', 'receipts'],
      Object.entries(s.byOutcome).map(([k, v]) => [k, String(v)]),
    ),
  );
  const reasons = Object.entries(s.rejectionsByReason);
  if (reasons.length > 0) {
    out.push('', 'Not executed, by reason');
    out.push(
      table(
        ['reason', 'receipts'],
        reasons.map(([k, v]) => [k, String(v)]),
      ),
    );
  }
  for (const [title, parties] of [
    ['Accounts', s.accounts],
    ['Requesters', s.requesters],
  ] as const) {
    if (parties.length === 0) continue;
    out.push('', title);
    out.push(
      table(
        ['id', 'receipts', 'executed', 'notional'],
        parties.map((p) => [p.id, String(p.receipts), String(p.executed), p.notional]),
      ),
    );
  }
  // A reconciliation does not walk the chains (audit replay does).
  if (!rec || s.streams.length > 0) {
    out.push('', 'Streams');
    out.push(
      table(
        ['stream', 'first', 'last', 'receipts', 'missing', 'checkpoint', 'status', 'proven'],
        s.streams.map((st) => [
          st.stream,
          String(st.firstSeq ?? '-'),
          String(st.lastSeq ?? '-'),
          String(st.receipts),
          String(st.missing),
          String(st.checkpointSeq ?? '-'),
          st.status,
          describeProof(st.proof),
        ]),
      ),
    );
  }
  for (const note of report.notes ?? []) out.push(`note: ${note}`);
  if (report.memory) {
    const ref = (r: { n: number; sha256: string } | null) =>
      r ? `#${r.n} sha256 ${r.sha256}` : 'none';
    out.push(
      `state ${report.memory.file}: loaded ${ref(report.memory.loaded)}, saved ${ref(report.memory.saved)}`,
    );
  }
  const codes = Object.entries(s.findingsByCode);
  if (codes.length > 0) {
    out.push('', 'Findings by code');
    out.push(
      table(
        ['code', 'count'],
        codes.map(([k, v]) => [k, String(v)]),
      ),
    );
    out.push('', 'Findings');
    for (const f of report.findings) out.push(formatFinding(f));
    if (report.findingsOmitted > 0)
      out.push(`... and ${report.findingsOmitted} more (counted above)`);
  }
  return `${out.join('\n')}\n`;
}
