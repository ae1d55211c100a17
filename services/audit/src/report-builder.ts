// Totals of an audit run (outcomes, rejection reasons, per account and requester) and the report
// built from them. Totals are exact: notional sums are bigint at a fixed scale.
import {
  AUDIT_REPORT_VERSION,
  fromScaled,
  toScaled,
  type AuditMemory,
  type AuditReport,
  type AuditSource,
  type Outcome,
  type PartyTotals,
  type ReceiptClaims,
  type StreamSummary,
} from '@countersign/contracts';
import type { FindingSink } from './findings.ts';

const SCALE = 16;

interface Party {
  receipts: number;
  executed: number;
  notional: bigint;
}

export class Tally {
  events = 0;
  duplicates = 0;
  readonly byOutcome: Record<Outcome, number> = { EXECUTED: 0, REJECTED: 0, FAILED: 0, UNKNOWN: 0 };
  private readonly rejections = new Map<string, number>();
  private readonly accounts = new Map<string, Party>();
  private readonly requesters = new Map<string, Party>();

  /** Counts one placed receipt. */
  count(claims: ReceiptClaims): void {
    this.byOutcome[claims.outcome]++;
    if (claims.outcome !== 'EXECUTED' && claims.reason) {
      this.rejections.set(claims.reason, (this.rejections.get(claims.reason) ?? 0) + 1);
    }
    let notional = 0n;
    if (claims.outcome === 'EXECUTED') {
      for (const f of claims.fills) notional += toScaled(f.quantity, 8) * toScaled(f.price, 8);
    }
    for (const p of [
      Tally.party(this.accounts, claims.req.sub),
      Tally.party(this.requesters, claims.req.iss),
    ]) {
      p.receipts++;
      if (claims.outcome === 'EXECUTED') p.executed++;
      p.notional += notional;
    }
  }

  private static party(map: Map<string, Party>, id: string | null): Party {
    const key = id ?? '(unverified)';
    let p = map.get(key);
    if (!p) {
      p = { receipts: 0, executed: 0, notional: 0n };
      map.set(key, p);
    }
    return p;
  }

  static totals(map: ReadonlyMap<string, Party>): PartyTotals[] {
    return [...map]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, p]) => ({
        id,
        receipts: p.receipts,
        executed: p.executed,
        notional: fromScaled(p.notional, SCALE),
      }));
  }

  summary(findings: FindingSink, streams: StreamSummary[]): AuditReport['summary'] {
    return {
      events: this.events,
      receipts: streams.reduce((n, s) => n + s.receipts, 0),
      duplicates: this.duplicates,
      byOutcome: { ...this.byOutcome },
      rejectionsByReason: Object.fromEntries(
        [...this.rejections].sort(([a], [b]) => a.localeCompare(b)),
      ),
      accounts: Tally.totals(this.accounts),
      requesters: Tally.totals(this.requesters),
      findingsByCode: { ...findings.byCode },
      streams,
    };
  }
}

export function buildReport(parts: {
  readonly source: AuditSource;
  readonly generatedAt: number;
  readonly tally: Tally;
  readonly findings: FindingSink;
  readonly streams: StreamSummary[];
  readonly notes: readonly string[];
  readonly memory?: AuditMemory;
}): AuditReport {
  const { findings } = parts;
  return {
    version: AUDIT_REPORT_VERSION,
    generatedAt: new Date(parts.generatedAt).toISOString(),
    source: parts.source,
    clean: findings.total === 0,
    summary: parts.tally.summary(findings, parts.streams),
    findings: [...findings.kept],
    findingsOmitted: findings.total - findings.kept.length,
    ...(parts.memory ? { memory: parts.memory } : {}),
    ...(parts.notes.length > 0 ? { notes: [...parts.notes] } : {}),
  };
}
