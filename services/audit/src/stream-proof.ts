// The end-of-run proof of one stream (DESIGN.md §6a, issue 14): where it starts (genesis, the
// head a previous audit remembered, a checkpoint signed before the window), where it must end
// (the newest checkpoint, the remembered head, or, in a window, the checkpoints signed in it),
// and every way the archive falls short of that: missing receipts, a cut tail, a stream gone,
// a remembered receipt or checkpoint no longer there. Pure apart from marking table slots.
import {
  GENESIS_PREV,
  type Finding,
  type FindingCode,
  type StreamProof,
} from '@countersign/contracts';
import type { CheckpointChain } from './checkpoint-chain.ts';
import { digestWords } from './digest.ts';
import type { RememberedStream } from './ports.ts';
import type { StreamTable } from './seq-table.ts';

/**
 * What a run covers.
 * - full: the whole archive. A stream proves from seq 1 (genesis) or from the head a previous
 *   audit remembered; every checkpoint and the remembered head bound its end.
 * - window: a time range (epoch s, either end open). Receipts between the newest checkpoint
 *   signed before `from` and the newest signed before `to` must all be there; an empty window
 *   is clean when no checkpoint moved in it.
 * - partial: an arbitrary slice (the live consumer, the Lambda, the demo): a stream proves from
 *   where it is first met (or resumes at the remembered head); checkpoints signed after
 *   `checkpointsUntil` are only checked for a match, since their receipts may still be on the way.
 */
export type AuditScope =
  | { readonly kind: 'full' }
  | { readonly kind: 'window'; readonly from: number | null; readonly to: number | null }
  | { readonly kind: 'partial'; readonly checkpointsUntil: number | null };

export interface ProveInput {
  readonly stream: string;
  readonly table: StreamTable;
  readonly chain: CheckpointChain | undefined;
  readonly remembered: RememberedStream | undefined;
  readonly scope: AuditScope;
  /** partial scope: receipts up to `remembered.seq` were audited before and skipped now. */
  readonly resumed: boolean;
  /**
   * The highest seq a verified receipt batch head commits to: the gateway signed that the
   * stream reaches it, so a full replay must too (a tail cut inside the last batch).
   */
  readonly signedSeq?: number;
  /**
   * How long the source keeps receipts (s), when it declares it (the EventBridge archive's
   * retention); undefined: it keeps them all, so a full replay proves from genesis.
   */
  readonly retentionSec?: number | undefined;
  /** Epoch s now (injected clock): with the retention, which receipts may have expired. */
  readonly now?: number;
}

export interface ProveResult {
  readonly findings: Finding[];
  readonly proof: StreamProof;
  /** Missing seqs inside the proven range. */
  readonly missing: number;
}

export function proveStream(input: ProveInput): ProveResult {
  const { stream, table, chain, scope } = input;
  const r = input.remembered;
  const findings: Finding[] = [];
  const report = (code: FindingCode, seq: number | null, message: string) =>
    findings.push({ code, stream, seq, jti: null, message });
  const min = table.minSeq;
  const max = table.maxSeq;
  const newest = chain?.newest;

  // Every checkpoint names the receipt at its seq: a receipt we hold must hash to it.
  for (const c of chain?.byIndex.values() ?? []) {
    const { seq, head, index } = c.claims;
    if (seq > 0 && table.has(seq) && !table.hashEquals(seq, digestWords(head))) {
      table.markFinding(seq);
      report(
        'CHECKPOINT_MISMATCH',
        seq,
        `receipt ${seq} does not hash to checkpoint #${index}'s head`,
      );
    }
  }

  // What a previous audit saw must still be there.
  if (r?.checkpoint) {
    const seen = chain?.byIndex.get(r.checkpoint.index);
    if (!seen) {
      report(
        'HISTORY_REWRITTEN',
        null,
        `a previous audit saw checkpoint #${r.checkpoint.index}; the checkpoint store ends at #${newest?.claims.index ?? 0}: it was rolled back or removed`,
      );
    } else if (seen.hash !== r.checkpoint.hash) {
      report(
        'HISTORY_REWRITTEN',
        seen.claims.seq,
        `checkpoint #${r.checkpoint.index} is not the one a previous audit saw`,
      );
    }
  }
  const rememberedSeq = r && r.seq > 0 ? r.seq : 0;
  if (rememberedSeq > 0 && !input.resumed && min !== null && max !== null) {
    const inRange = rememberedSeq >= min && rememberedSeq <= max;
    if (table.has(rememberedSeq)) {
      if (!table.hashEquals(rememberedSeq, digestWords(r!.head))) {
        table.markFinding(rememberedSeq);
        report(
          'HISTORY_REWRITTEN',
          rememberedSeq,
          `receipt ${rememberedSeq} is not the one a previous audit verified`,
        );
      }
    } else if (scope.kind === 'full' && rememberedSeq < min) {
      report(
        'HISTORY_REWRITTEN',
        rememberedSeq,
        `receipt ${rememberedSeq}, verified by a previous audit, is no longer in the archive (it starts at ${min})`,
      );
    } else if (inRange) {
      report(
        'HISTORY_REWRITTEN',
        rememberedSeq,
        `receipt ${rememberedSeq}, verified by a previous audit, is no longer in the archive`,
      );
    }
  }

  // Where the archive must reach, and where the proof must start.
  let expectedEnd = 0;
  let endWhy = '';
  const expect = (seq: number, why: string) => {
    if (seq > expectedEnd) [expectedEnd, endWhy] = [seq, why];
  };
  const cpWhy = (c: { claims: { index: number; seq: number } }) =>
    `checkpoint #${c.claims.index} names seq ${c.claims.seq}`;
  let requiredStart: number | null = null;
  let anchor: { seq: number; head: string } | undefined;
  if (scope.kind === 'full') {
    if (newest) expect(newest.claims.seq, cpWhy(newest));
    expect(rememberedSeq, `a previous audit verified receipts up to ${rememberedSeq}`);
    const signed = input.signedSeq ?? 0;
    expect(signed, `a receipt batch head signed by the gateway names seq ${signed}`);
    requiredStart = 1;
  } else if (scope.kind === 'window') {
    const before = scope.from === null ? undefined : chain?.lastBefore(scope.from);
    const upTo = scope.to === null ? newest : chain?.lastBefore(scope.to);
    const s0 = before?.claims.seq ?? 0;
    if (upTo && upTo.claims.seq > s0) {
      expect(upTo.claims.seq, `${cpWhy(upTo)}, signed before the window's end`);
      requiredStart = s0 + 1;
      if (before) anchor = { seq: s0, head: before.claims.head };
    }
  } else {
    const until = scope.checkpointsUntil;
    const bound = until === null ? newest : chain?.lastBefore(until + 1);
    if (bound) expect(bound.claims.seq, cpWhy(bound));
  }
  const reached = Math.max(max ?? 0, input.resumed ? rememberedSeq : 0);
  if (expectedEnd > reached) {
    if (max === null && !input.resumed) {
      report(
        'STREAM_MISSING',
        expectedEnd,
        `no receipt of ${stream} is in the archive, but ${endWhy}`,
      );
    } else {
      report('TAIL_TRUNCATED', expectedEnd, `${endWhy}, but the last receipt seen is ${reached}`);
    }
  }

  // A full replay proves from seq 1, unless the archive's retention has passed the first
  // receipt a previous audit proved (then it starts at the remembered head). The remembered
  // genesis never moves the start: a state file rewritten to name a later first receipt would
  // otherwise excuse deleted first receipts.
  const g = r?.genesis;
  const retained =
    input.retentionSec !== undefined &&
    input.now !== undefined &&
    (g === undefined || g.iat < input.now - input.retentionSec);
  if (
    scope.kind === 'full' &&
    g &&
    table.has(g.seq) &&
    !table.hashEquals(g.seq, digestWords(g.head))
  ) {
    table.markFinding(g.seq);
    report(
      'HISTORY_REWRITTEN',
      g.seq,
      `receipt ${g.seq} is not the first receipt a previous audit verified`,
    );
  }

  let start: StreamProof['start'] = 'none';
  let lower: number | null = null;
  if (max !== null && min !== null) {
    if (
      scope.kind === 'full' &&
      !input.resumed &&
      min > 1 &&
      !(retained && rememberedSeq > 0 && min <= rememberedSeq + 1)
    ) {
      [start, lower] = ['genesis', 1];
    } else if (scope.kind === 'partial') {
      [start, lower] = input.resumed
        ? ['remembered', rememberedSeq + 1]
        : [min === 1 ? 'genesis' : 'window', min];
    } else if (min === 1) {
      [start, lower] = ['genesis', 1];
    } else if (
      rememberedSeq > 0 &&
      min <= rememberedSeq + 1 &&
      // A window's start is its checkpoint (or genesis): the remembered head is where a run
      // ended, and would excuse receipts deleted at the window's start.
      !(scope.kind === 'window' && requiredStart !== null && min > requiredStart && !retained)
    ) {
      [start, lower] = ['remembered', min];
    } else if (anchor && min <= anchor.seq + 1) {
      [start, lower] = ['checkpoint', min];
      if (min === anchor.seq + 1 && !table.prevEquals(min, digestWords(anchor.head))) {
        table.markFinding(min);
        report(
          'CHAIN_BROKEN',
          min,
          `prev of receipt ${min} is not the head of the checkpoint at seq ${anchor.seq}`,
        );
      }
    } else if (requiredStart !== null) {
      [start, lower] = [anchor ? 'checkpoint' : 'genesis', requiredStart];
    } else {
      [start, lower] = ['window', min];
    }
  }

  let missing = 0;
  let endSeq: number | null = null;
  if (lower !== null && max !== null) {
    const gaps = table.missingRanges(lower, max);
    for (const [a, b] of gaps) {
      missing += b - a + 1;
      report(
        'SEQ_GAP',
        a,
        a === b ? `receipt ${a} is missing` : `receipts ${a}..${b} are missing (${b - a + 1})`,
      );
    }
    endSeq = gaps.length > 0 ? gaps[0]![0] - 1 : max;
    if (endSeq < lower) endSeq = null;
  }
  return {
    findings,
    missing,
    proof: {
      start,
      startSeq: lower,
      endSeq,
      checkpointIndex: newest?.claims.index ?? null,
      unconfirmed: max === null ? 0 : Math.max(0, max - (newest?.claims.seq ?? 0)),
    },
  };
}

/**
 * What the next run must find again: the proven end and the newest checkpoint, moving only
 * forward, and only for a stream this run found nothing wrong in (a truncated or rewritten
 * stream keeps the older, larger memory that exposed it).
 */
export function nextMemory(
  r: RememberedStream | undefined,
  proven: {
    readonly ok: boolean;
    readonly endSeq: number | null;
    readonly endHash: string | undefined;
    /** The first receipt, when this run proved the stream from genesis. */
    readonly genesis?: { readonly seq: number; readonly head: string; readonly iat: number };
  },
  newest: { readonly index: number; readonly hash: string } | undefined,
): RememberedStream | undefined {
  const head =
    proven.ok && proven.endSeq !== null && proven.endHash && proven.endSeq > (r?.seq ?? 0)
      ? { seq: proven.endSeq, head: proven.endHash }
      : r && { seq: r.seq, head: r.head };
  const cp =
    proven.ok && newest && newest.index > (r?.checkpoint?.index ?? 0) ? newest : r?.checkpoint;
  const genesis = r?.genesis ?? (proven.ok ? proven.genesis : undefined);
  if (!head && !cp) return undefined;
  return {
    ...(head ?? { seq: 0, head: GENESIS_PREV }),
    ...(cp ? { checkpoint: cp } : {}),
    ...(genesis ? { genesis } : {}),
  };
}
