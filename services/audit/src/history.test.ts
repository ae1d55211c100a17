// Tamper-evident history (issue 14) at the auditor level, with real tokens from the synthetic
// gateway (which builds receipts and checkpoints with the gateway's own builders): where a
// stream's proof starts and ends, what a previous audit remembered, the checkpoint chain, windows,
// and the event bound to its receipt.
import { describe, expect, it } from 'vitest';
import {
  AuditReport,
  TokenTypes,
  nextCheckpointClaims,
  type AuditSource,
  type CheckpointClaims,
  type Clock,
  type FindingCode,
} from '@countersign/contracts';
import { signJwt } from '@countersign/signing';
import { createAuditor, type AuditorOptions } from './auditor.ts';
import { sha256B64u } from './digest.ts';
import type { CheckpointEntry } from './ports.ts';
import type { EmittedReceipt, SyntheticKit } from './synthetic-gateway.ts';
import { START, kitVerifiers, testKit } from './testing/kit.ts';

const clock: Clock = { now: () => (START + 10_000) * 1000 };
const SOURCE: AuditSource = { kind: 'events', from: null, to: null, gateway: null };
const S = 'gw-1/0';

const kit = () => testKit();

async function emit(k: SyntheticKit, n: number): Promise<EmittedReceipt[]> {
  const out: EmittedReceipt[] = [];
  for (let i = 0; i < n; i++) out.push(await k.gateway.emit());
  return out;
}

async function run(
  k: SyntheticKit,
  receipts: readonly EmittedReceipt[],
  checkpoints: readonly (string | CheckpointEntry)[] = [],
  extra: Partial<AuditorOptions> = {},
) {
  const auditor = createAuditor({
    verifiers: kitVerifiers(k, clock),
    clockSkewSec: 30,
    clock,
    ...extra,
  });
  await auditor.ingestMany(receipts.map((r) => r.detail));
  await auditor.addCheckpoints(checkpoints.map((c) => (typeof c === 'string' ? { token: c } : c)));
  const report = auditor.finish(SOURCE);
  expect(AuditReport.parse(report)).toEqual(report);
  return { report, memory: auditor.memory() };
}

const codes = (r: AuditReport): FindingCode[] => r.findings.map((f) => f.code).sort();
const stream = (r: AuditReport) => r.summary.streams.find((s) => s.stream === S)!;

describe('a full replay proves each stream from genesis or a remembered head', () => {
  it('reports deleted first receipts: the replay requires seq 1', async () => {
    const k = await kit();
    const all = await emit(k, 20);
    const cp = await k.gateway.checkpoint(S);
    const { report } = await run(k, all.slice(10), [cp]);
    expect(report.findings).toEqual([
      expect.objectContaining({
        code: 'SEQ_GAP',
        seq: 1,
        message: 'receipts 1..10 are missing (10)',
      }),
    ]);
    expect(stream(report).proof).toMatchObject({ start: 'genesis', startSeq: 1, endSeq: null });
    const clean = await run(k, all, [cp]);
    expect(clean.report.clean).toBe(true);
    expect(stream(clean.report).proof).toEqual({
      start: 'genesis',
      startSeq: 1,
      endSeq: 20,
      checkpointIndex: 1,
      unconfirmed: 0,
    });
  });

  it('starts at the remembered head when older receipts left the archive (retention)', async () => {
    const k = await kit();
    const all = await emit(k, 30);
    const first = await run(k, all.slice(0, 20));
    expect(first.memory.get(S)).toMatchObject({
      seq: 20,
      genesis: { seq: 1 },
    });
    // Receipts 1..15 expired from the archive (a 1-day retention, two days later); 16..30
    // remain and link onto the remembered 20.
    const later = await run(k, all.slice(15), [], {
      remembered: first.memory,
      archiveRetentionSec: 86_400,
      clock: { now: () => clock.now() + 2 * 86_400_000 },
    });
    expect(later.report.clean).toBe(true);
    expect(stream(later.report).proof).toMatchObject({
      start: 'remembered',
      startSeq: 16,
      endSeq: 30,
    });
    expect(later.memory.get(S)).toMatchObject({ seq: 30 });
  });

  it('with a state file, deleted first receipts are still missing unless a declared retention passed them', async () => {
    const k = await kit();
    const all = await emit(k, 20);
    const { memory } = await run(k, all);
    const headless = all.slice(10);
    // No retention declared (the embedded archive): the proof starts at the remembered genesis.
    const cut = await run(k, headless, [], { remembered: memory });
    expect(cut.report.findings).toEqual([
      expect.objectContaining({
        code: 'SEQ_GAP',
        seq: 1,
        message: 'receipts 1..10 are missing (10)',
      }),
    ]);
    expect(stream(cut.report).proof).toMatchObject({ start: 'genesis', startSeq: 1 });
    // A retention that has not passed the first receipt yet does not excuse it either.
    const young = await run(k, headless, [], { remembered: memory, archiveRetentionSec: 86_400 });
    expect(codes(young.report)).toEqual(['SEQ_GAP']);
    // The first receipt replaced by another one.
    const other = new Map([
      [S, { ...memory.get(S)!, genesis: { ...memory.get(S)!.genesis!, head: sha256B64u('x') } }],
    ]);
    const rewritten = await run(k, all, [], { remembered: other });
    expect(codes(rewritten.report)).toEqual(['HISTORY_REWRITTEN']);
    // A state file rewritten to name receipt 11 as the first one: still 1..10 missing.
    const first = headless[0]!;
    const genesis = { seq: 11, head: first.hash, iat: first.claims.iat };
    const forged = new Map([[S, { ...memory.get(S)!, genesis }]]);
    const excused = await run(k, headless, [], { remembered: forged });
    expect(codes(excused.report)).toEqual(['SEQ_GAP']);
    expect(stream(excused.report).proof).toMatchObject({ start: 'genesis', startSeq: 1 });
  });

  it('catches a cut tail, a rewritten receipt and a vanished stream against what it remembers', async () => {
    const k = await kit();
    const all = await emit(k, 12);
    const { memory } = await run(k, all);
    // No checkpoint at all: only the memory shows that receipts 9..12 existed.
    const cut = await run(k, all.slice(0, 8), [], { remembered: memory });
    expect(cut.report.findings).toEqual([
      expect.objectContaining({
        code: 'TAIL_TRUNCATED',
        message: 'a previous audit verified receipts up to 12, but the last receipt seen is 8',
      }),
    ]);
    expect(cut.memory.get(S)).toEqual(memory.get(S)); // never remembers backwards
    const gone = await run(k, [], [], { remembered: memory });
    expect(codes(gone.report)).toEqual(['STREAM_MISSING']);
    // The remembered receipt 12 was another one (the archive's history was replaced).
    const rewritten = new Map([[S, { ...memory.get(S)!, head: sha256B64u('another receipt') }]]);
    const r = await run(k, all, [], { remembered: rewritten });
    expect(r.report.findings).toEqual([
      expect.objectContaining({
        code: 'HISTORY_REWRITTEN',
        seq: 12,
        message: 'receipt 12 is not the one a previous audit verified',
      }),
    ]);
  });
});

describe('checkpoints as their own chain', () => {
  it('tail truncation with the newest checkpoints gone shows against the remembered checkpoint', async () => {
    const k = await kit();
    const all: EmittedReceipt[] = [];
    const cps: string[] = [];
    for (let i = 0; i < 3; i++) {
      all.push(...(await emit(k, 10)));
      cps.push(await k.gateway.checkpoint(S)); // at 10, 20, 30
    }
    const { memory } = await run(k, all, cps);
    expect(memory.get(S)?.checkpoint).toEqual({ index: 3, hash: sha256B64u(cps[2]!) });
    // The attacker cuts the archive and rolls the checkpoint store back to #1.
    const rolledBack = await run(k, all.slice(0, 25), cps.slice(0, 1), { remembered: memory });
    expect(codes(rolledBack.report)).toEqual(['HISTORY_REWRITTEN', 'TAIL_TRUNCATED']);
    expect(rolledBack.report.findings[0]!.message).toContain('a previous audit saw checkpoint #3');
  });

  it('reports a checkpoint removed from the middle, a fork, a seq going back, a mirror-only one, an overwrite', async () => {
    const k = await kit();
    const all = await emit(k, 10);
    const c1 = await k.gateway.checkpoint(S);
    const c2 = await k.gateway.checkpoint(S);
    const c3 = await k.gateway.checkpoint(S);
    const middle = await run(k, all, [c1, c3]);
    expect(middle.report.findings).toEqual([
      expect.objectContaining({
        code: 'CHECKPOINT_CHAIN_BROKEN',
        message: 'checkpoints #2 are missing',
      }),
    ]);
    const mirrorOnly = await run(k, all, [c1, c2, { token: c3, origin: 'mirror' }]);
    expect(mirrorOnly.report.findings).toEqual([
      expect.objectContaining({
        code: 'CHECKPOINT_CHAIN_BROKEN',
        message: 'checkpoints #3 are in the mirror but not in the checkpoint store',
      }),
    ]);
    const both = await run(k, all, [c1, c2, c3, { token: c3, origin: 'mirror' }]);
    expect(both.report.clean).toBe(true);
    // A mirror is read (configured): the checkpoints it lost are a finding, the log intact.
    const mirror = (t: string) => ({ token: t, origin: 'mirror' as const });
    const full = [c1, c2, c3, mirror(c1), mirror(c2), mirror(c3)];
    expect((await run(k, all, full, { checkpointMirror: true })).report.clean).toBe(true);
    const truncated = await run(k, all, [c1, c2, c3, mirror(c1)], { checkpointMirror: true });
    expect(truncated.report.findings).toEqual([
      expect.objectContaining({
        code: 'CHECKPOINT_CHAIN_BROKEN',
        message: expect.stringMatching(
          /^checkpoints #2.*3 are in the checkpoint store but not in the mirror$/,
        ),
      }),
    ]);
    const gone = await run(k, all, [c1, c2, c3], { checkpointMirror: true });
    expect(codes(gone.report)).toEqual(['CHECKPOINT_CHAIN_BROKEN']);
    const overwritten = await run(k, all, [c1, { token: c2, overwritten: true }, c3]);
    expect(overwritten.report.findings.map((f) => f.message)).toEqual([
      'checkpoint #2 was written over (more than one version)',
    ]);
    // Signed with the gateway key but not in this chain: a second #1, and a #4 that goes back.
    const sign = (claims: CheckpointClaims) =>
      signJwt(k.gatewaySigner, claims, { typ: TokenTypes.CHECKPOINT });
    const fork = await sign(
      nextCheckpointClaims(
        undefined,
        { stream: S, seq: 4, hash: all[3]!.hash },
        { iss: 'gw-1', iat: START },
      ),
    );
    const back = await sign(
      nextCheckpointClaims(
        { index: 3, token: c3 },
        { stream: S, seq: 4, hash: all[3]!.hash },
        { iss: 'gw-1', iat: START },
      ),
    );
    const tampered = await run(k, all, [c1, c2, c3, fork, back]);
    expect(tampered.report.findings.map((f) => f.message).sort()).toEqual([
      "checkpoint #4 names seq 4, before #3's seq 10",
      'two different checkpoints carry index #1',
    ]);
  });
});

describe('a checkpoint log that stands alone', () => {
  const NOTE =
    'no checkpoint mirror and no remembered state for gw-1/0: a rollback of the checkpoint log together with the archive cannot be seen';

  it('is noted (not a finding) when no mirror, bucket or remembered state covers the stream', async () => {
    const k = await kit();
    const all = await emit(k, 10); // iat START .. START+9
    const c1 = await k.gateway.checkpoint(S, { iat: START + 10 }); // at 10
    all.push(...(await emit(k, 10)));
    const c2 = await k.gateway.checkpoint(S, { iat: START + 20 }); // at 20
    const logOnly = { checkpointLogOnly: true } as const;
    // The log and the archive rolled back together to checkpoint #1: nothing shows it...
    const rolledBack = await run(k, all.slice(0, 10), [c1], logOnly);
    expect(rolledBack.report.clean).toBe(true);
    expect(rolledBack.report.findings).toEqual([]);
    // ...and the report says so, for a full replay and for a window alike.
    expect(rolledBack.report.notes).toEqual([NOTE]);
    const window = { kind: 'window', from: null, to: START + 30 } as const;
    const windowed = await run(k, all, [c1, c2], { ...logOnly, scope: window });
    expect(windowed.report.clean).toBe(true);
    expect(windowed.report.notes).toEqual([NOTE]);
    // A remembered state covers the stream: the same rollback is a finding, and no note.
    const { memory } = await run(k, all, [c1, c2], logOnly);
    const seen = await run(k, all.slice(0, 10), [c1], { ...logOnly, remembered: memory });
    expect(codes(seen.report)).toEqual(['HISTORY_REWRITTEN', 'TAIL_TRUNCATED']);
    expect(seen.report.notes).toBeUndefined();
    // A mirror or the S3 bucket (the runtime does not set checkpointLogOnly): no note.
    const mirrored = await run(k, all, [c1, c2], { checkpointMirror: true });
    expect(mirrored.report.notes).toBeUndefined();
    expect((await run(k, all, [c1, c2])).report.notes).toBeUndefined();
    // No checkpoint at all: the existing note says more than this one would.
    expect((await run(k, all, [], logOnly)).report.notes).toEqual([
      'no checkpoint and no remembered state: nothing here shows whether the archive once held more',
    ]);
  });
});

describe('windows', () => {
  it('an empty window is clean when no checkpoint moved in it, else the receipts are missing', async () => {
    const k = await kit();
    const all = await emit(k, 10); // iat START .. START+9
    const c1 = await k.gateway.checkpoint(S, { iat: START + 20 });
    const quiet = { kind: 'window', from: START + 1000, to: START + 2000 } as const;
    const empty = await run(k, [], [c1], { scope: quiet });
    expect(empty.report.clean).toBe(true);
    // Receipts 11..15 at START+1500, covered by a checkpoint inside the window: all deleted.
    const later = [];
    for (let i = 0; i < 5; i++) later.push(await k.gateway.emit({ iat: START + 1500 + i }));
    const c2 = await k.gateway.checkpoint(S, { iat: START + 1510 });
    const deleted = await run(k, [], [c1, c2], { scope: quiet });
    expect(deleted.report.findings).toEqual([
      expect.objectContaining({
        code: 'STREAM_MISSING',
        message:
          "no receipt of gw-1/0 is in the archive, but checkpoint #2 names seq 15, signed before the window's end",
      }),
    ]);
    const kept = await run(k, later, [c1, c2], { scope: quiet });
    expect(kept.report.clean).toBe(true);
    expect(stream(kept.report).proof).toMatchObject({
      start: 'checkpoint',
      startSeq: 11,
      endSeq: 15,
    });
    // The window's first receipts deleted: they sit between the checkpoint before it and the rest.
    const head = await run(k, later.slice(2), [c1, c2], { scope: quiet });
    expect(head.report.findings).toEqual([
      expect.objectContaining({ code: 'SEQ_GAP', message: 'receipts 11..12 are missing (2)' }),
    ]);
    // A cut tail right before the window's end: the checkpoint signed inside it still counts.
    const tail = await run(k, later.slice(0, 3), [c1, c2], {
      scope: { kind: 'window', from: START + 1000, to: START + 1511 },
    });
    expect(codes(tail.report)).toEqual(['TAIL_TRUNCATED']);
    expect(all).toHaveLength(10);
  });

  it("a state file does not excuse the window's first receipts (it remembers where a run ended)", async () => {
    const k = await kit();
    const all = await emit(k, 10);
    const c1 = await k.gateway.checkpoint(S, { iat: START + 20 });
    const later = [];
    for (let i = 0; i < 5; i++) later.push(await k.gateway.emit({ iat: START + 1500 + i }));
    const c2 = await k.gateway.checkpoint(S, { iat: START + 1510 });
    const { memory } = await run(k, [...all, ...later], [c1, c2]);
    expect(memory.get(S)).toMatchObject({ seq: 15 });
    const window = { kind: 'window', from: START + 1000, to: START + 2000 } as const;
    const head = await run(k, later.slice(2), [c1, c2], { scope: window, remembered: memory });
    expect(head.report.findings).toEqual([
      expect.objectContaining({ code: 'SEQ_GAP', message: 'receipts 11..12 are missing (2)' }),
    ]);
    expect(stream(head.report).proof).toMatchObject({ start: 'checkpoint', startSeq: 11 });
    // An open start (`--to` only) proves from genesis, as without the state.
    const open = { kind: 'window', from: null, to: START + 2000 } as const;
    const first = await run(k, [...all.slice(3), ...later], [c1, c2], {
      scope: open,
      remembered: memory,
    });
    expect(first.report.findings).toEqual([
      expect.objectContaining({ code: 'SEQ_GAP', message: 'receipts 1..3 are missing (3)' }),
    ]);
  });
});

describe('the event is bound to its receipt', () => {
  it('flags another messageId, and a REJECTED request nulled in the event unless the receipt says so', async () => {
    const k = await kit();
    const ok = await k.gateway.emit();
    const moved = await k.gateway.emit();
    const rejected = await k.gateway.emit({ outcome: 'REJECTED', reason: 'NOTIONAL_TOO_HIGH' });
    const dropped = await k.gateway.emit({
      outcome: 'REJECTED',
      reason: 'TOKEN_TOO_LARGE',
      dropRequest: true,
    });
    const { report } = await run(k, [
      ok,
      { ...moved, detail: { ...moved.detail, messageId: 'msg-other' } },
      { ...rejected, detail: { ...rejected.detail, request: null } },
      dropped,
    ]);
    expect(report.findings.map((f) => [f.code, f.seq])).toEqual([
      ['EVENT_MISMATCH', 2],
      ['EVENT_MISMATCH', 3],
    ]);
    expect(dropped.claims.req.kept).toBe(false);
    expect(dropped.detail.request).toBeNull();
    // Adding a request the receipt says was not kept is a mismatch too.
    const added = await run(k, [
      ok,
      moved,
      rejected,
      { ...dropped, detail: { ...dropped.detail, request: ok.detail.request } },
    ]);
    expect(codes(added.report)).toEqual(['EVENT_MISMATCH', 'REQUEST_HASH_MISMATCH']);
  });
});
