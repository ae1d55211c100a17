// The report's per-stream timeline: at most TIMELINE_BINS bins over [from, to], each counting
// outcomes, missing seqs and receipts with findings. Pure over the chain table.
import type { TimelineBin } from '@countersign/contracts';
import type { StreamTable } from './seq-table.ts';

export const TIMELINE_BINS = 120;

export function timeline(table: StreamTable, from: number, to: number): TimelineBin[] {
  if (to < from) return [];
  const span = to - from + 1;
  const width = Math.ceil(span / TIMELINE_BINS);
  const bins: TimelineBin[] = [];
  for (let lo = from; lo <= to; lo += width) {
    const hi = Math.min(to, lo + width - 1);
    bins.push({
      fromSeq: lo,
      toSeq: hi,
      fromTime: null,
      toTime: null,
      executed: 0,
      rejected: 0,
      failed: 0,
      unknown: 0,
      missing: hi - lo + 1,
      findings: 0,
    });
  }
  for (const slot of table.slots(from, to)) {
    const bin = bins[Math.floor((slot.seq - from) / width)]!;
    bin.missing--;
    if (slot.outcome === 'EXECUTED') bin.executed++;
    else if (slot.outcome === 'REJECTED') bin.rejected++;
    else if (slot.outcome === 'FAILED') bin.failed++;
    else bin.unknown++;
    if (slot.finding) bin.findings++;
    if (bin.fromTime === null || slot.iat < bin.fromTime) bin.fromTime = slot.iat;
    if (bin.toTime === null || slot.iat > bin.toTime) bin.toTime = slot.iat;
  }
  return bins;
}
