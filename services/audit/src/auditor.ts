// The audit core: feed it receipt events in any order, duplicated or not; it verifies each receipt
// and the request inside (`prepare`, everything that awaits), then places the receipt in its
// stream's chain (`apply`, synchronous, so events apply strictly in the given order). Checkpoints
// are verified the same way. `finish` proves each stream (stream-proof.ts) and builds the report.
// Keyed on the receipt's own (stream, seq, hash), never on bus event ids, which change on replay.
// Memory: the typed-array chain table (37 bytes a receipt, see seq-table.ts), the checkpoints,
// per-party totals and at most `maxFindings` stored findings; everything else is counters.
import { extractTrace, noopMetrics, withSpan, type Metrics } from '@countersign/observability';
import {
  ReceiptEventDetail,
  gatewayOf,
  receiptChainHash,
  type AuditReport,
  type AuditSource,
  type Clock,
  type ReceiptClaims,
  type RequesterPolicy,
  type StreamSummary,
} from '@countersign/contracts';
import { AnswerIndex } from './answers.ts';
import { AuditError } from './errors.ts';
import { checkLinks } from './chain-links.ts';
import { CheckpointCollector } from './checkpoint-chain.ts';
import { digestWords, wordsToB64u } from './digest.ts';
import { FindingSink } from './findings.ts';
import { checkPolicy } from './policy-check.ts';
import type {
  CheckpointEntry,
  FindingListener,
  RememberedStream,
  StreamStart,
  TokenVerifiers,
} from './ports.ts';
import { buildReport, Tally } from './report-builder.ts';
import {
  checkRequest,
  rethrowUnlessVerificationFailure,
  type RequestCheck,
} from './request-check.ts';
import { StreamTable } from './seq-table.ts';
import { nextMemory, proveStream, type AuditScope } from './stream-proof.ts';
import { timeline } from './timeline.ts';
import { checkpointFailure, receiptFailure } from './verification-findings.ts';

export { peekUnverified } from './verification-findings.ts';

export interface AuditorOptions {
  readonly verifiers: TokenVerifiers;
  /** Skew allowed around the request's [nbf, exp] when placing the receipt's iat. */
  readonly clockSkewSec: number;
  readonly clock: Clock;
  /** What the run covers (see AuditScope). Default: the whole archive. */
  readonly scope?: AuditScope;
  /** Shorthand for `scope: { kind: 'partial', checkpointsUntil }` (live consumers, Lambda). */
  readonly window?: { readonly checkpointsUntil: number | null };
  /** What a previous audit verified: the next run must find it again. */
  readonly remembered?: ReadonlyMap<string, RememberedStream>;
  /**
   * Resume points of a live consumer after restart: receipts up to each seq were audited before
   * (re-deliveries count as duplicates) and the next one must link onto its hash.
   */
  readonly starts?: ReadonlyMap<string, RememberedStream>;
  /**
   * How long the archive keeps receipts (s), when the source declares it (EventBridge archive
   * retention). A full replay then accepts a stream whose first receipts expired, starting at the
   * remembered head; without it every stream proves from where it was first proven.
   */
  readonly archiveRetentionSec?: number;
  /**
   * The checkpoints come with a mirror (embedded COUNTERSIGN_CHECKPOINT_MIRROR): a checkpoint the
   * store has and the mirror lacks is then a finding.
   */
  readonly checkpointMirror?: boolean;
  /**
   * The checkpoints come from the embedded log alone (no mirror, no S3 bucket): a replay notes
   * the streams they anchor that no remembered state covers either, since a rollback of the log
   * together with the archive would then look like a shorter history.
   */
  readonly checkpointLogOnly?: boolean;
  /** Only audit this gateway's streams; events of others are skipped (not counted). */
  readonly gateway?: string;
  /** Known policies by version: EXECUTED receipts are re-checked against them when present. */
  readonly policies?: ReadonlyMap<string, RequesterPolicy>;
  /** Findings kept in the report (all are counted). Default 10,000. */
  readonly maxFindings?: number;
  readonly onFinding?: FindingListener;
  /** Findings by code, receipts verified, verdicts. Default: not recorded. */
  readonly metrics?: Metrics;
}

export type IngestResult = 'accepted' | 'duplicate' | 'finding' | 'skipped';

export interface FinishOptions {
  readonly notes?: readonly string[];
  /**
   * Partial scope: the bound for checkpoints as of now (epoch s), for a consumer that ran for a
   * while (the one given at creation was as of its start).
   */
  readonly checkpointsUntil?: number | null;
}

export interface Auditor {
  /**
   * Audits one bus event detail (unvalidated). Bad data is a finding, never an exception; it
   * throws only when it could not audit (e.g. a key store is unreachable): retry those.
   */
  ingest(detail: unknown): Promise<IngestResult>;
  /**
   * Audits several event details, in order. The signatures of all of them are checked at once
   * (on the thread pool, so on every core); the results are then applied one by one in the
   * given order, exactly as `ingest` would, so the outcome does not depend on timing. Calls
   * may overlap: each call's results are applied after those of every earlier call (of
   * `ingest` too), so a reader can keep the next batch verifying while this one is applied.
   */
  ingestMany(details: readonly unknown[]): Promise<IngestResult[]>;
  /** Records a delivery that is not even an event (unparseable queue message). */
  malformed(message: string): void;
  /** Adds one signed checkpoint (a token, or an entry as a CheckpointSource lists it). */
  addCheckpoint(checkpoint: string | CheckpointEntry): Promise<void>;
  /** Adds checkpoints, verified together. */
  addCheckpoints(entries: readonly CheckpointEntry[]): Promise<void>;
  /** Contiguous audited head of each stream (for resuming a live audit). */
  heads(): Map<string, StreamStart>;
  /** Number of findings so far (before end-of-run checks). */
  findingCount(): number;
  /** Runs the end-of-run checks (proofs, checkpoints, memory) and returns the report. */
  finish(source: AuditSource, options?: FinishOptions): AuditReport;
  /**
   * After finish: what to remember for the next run. A stream's memory only moves forward, and
   * only when this run found nothing wrong in it.
   */
  memory(): Map<string, RememberedStream>;
}

interface StreamState {
  readonly gateway: string;
  readonly table: StreamTable;
  /** The highest seq a verified receipt batch head commits to (a signed checkpoint too). */
  signedSeq: number;
}

/** What `apply` needs of an event: everything that awaits (parsing and both signatures). */
type Prepared =
  | { readonly kind: 'malformed'; readonly message: string }
  | { readonly kind: 'badReceipt'; readonly receipt: string; readonly err: unknown }
  | {
      readonly kind: 'verified';
      readonly receipt: string;
      readonly claims: ReceiptClaims;
      readonly batchSeq: number | undefined;
      /** undefined when the receipt is skipped (another gateway's stream). */
      readonly checked: RequestCheck | undefined;
    };

export function createAuditor(options: AuditorOptions): Auditor {
  const { verifiers, clockSkewSec } = options;
  const scope: AuditScope =
    options.scope ?? (options.window ? { kind: 'partial', ...options.window } : { kind: 'full' });
  const metrics = options.metrics ?? noopMetrics;
  const sink = new FindingSink(options.maxFindings ?? 10_000, (finding) => {
    metrics.count('audit_findings_total', { code: finding.code });
    options.onFinding?.(finding);
  });
  const tally = new Tally();
  const streams = new Map<string, StreamState>();
  const checkpoints = new CheckpointCollector(options.checkpointMirror === true);
  const answers = new AnswerIndex();
  const remembered = (stream: string) =>
    options.starts?.get(stream) ?? options.remembered?.get(stream);
  const foreign = (stream: string | null) =>
    options.gateway !== undefined && stream !== null && gatewayOf(stream) !== options.gateway;

  function streamState(stream: string): StreamState {
    let s = streams.get(stream);
    if (!s) {
      s = { gateway: gatewayOf(stream), table: new StreamTable(), signedSeq: 0 };
      streams.set(stream, s);
    }
    return s;
  }

  async function prepare(detail: unknown): Promise<Prepared> {
    const parsed = ReceiptEventDetail.safeParse(detail);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        kind: 'malformed',
        message: `event detail is not a receipt event: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
      };
    }
    // The gateway's trace (beside the tokens, unauthenticated) only links this span to it.
    return withSpan(
      'audit.verify',
      { 'countersign.message_id': parsed.data.messageId },
      async (): Promise<Prepared> => {
        let claims: ReceiptClaims;
        let batchSeq: number | undefined;
        try {
          ({ claims, batchSeq } = await verifiers.receipt(parsed.data.receipt));
        } catch (err) {
          rethrowUnlessVerificationFailure(err);
          return { kind: 'badReceipt', receipt: parsed.data.receipt, err };
        }
        const skipped = options.gateway !== undefined && claims.iss !== options.gateway;
        const checked = skipped
          ? undefined
          : await checkRequest(verifiers, clockSkewSec, claims, parsed.data);
        if (checked !== undefined) metrics.count('audit_receipts_total', {});
        return { kind: 'verified', receipt: parsed.data.receipt, claims, batchSeq, checked };
      },
      extractTrace(parsed.data.trace),
    );
  }

  function apply(p: Prepared): IngestResult {
    if (p.kind === 'malformed') {
      tally.events++;
      sink.report({
        code: 'MALFORMED_EVENT',
        stream: null,
        seq: null,
        jti: null,
        message: p.message,
      });
      return 'finding';
    }
    if (p.kind === 'badReceipt') {
      const finding = receiptFailure(p.receipt, p.err);
      if (foreign(finding.stream)) return 'skipped';
      tally.events++;
      sink.report(finding);
      return 'finding';
    }
    const { receipt, claims, checked } = p;
    const { stream, seq } = claims;
    if (checked === undefined) return 'skipped';
    tally.events++;
    if (gatewayOf(stream) !== claims.iss) {
      sink.report({
        code: 'RECEIPT_INVALID',
        stream,
        seq,
        jti: claims.jti,
        message: `stream ${stream} does not belong to issuer ${claims.iss}`,
      });
      return 'finding';
    }
    const state = streamState(stream);
    const { table } = state;
    state.signedSeq = Math.max(state.signedSeq, p.batchSeq ?? 0);
    const hash = digestWords(receiptChainHash(receipt));
    /** A copy of a receipt seen before still carries its own unsigned fields: check them. */
    const copyOf = (): IngestResult => {
      if (checked.found.length === 0) {
        tally.duplicates++;
        return 'duplicate';
      }
      for (const f of checked.found) sink.report({ ...f, stream, seq, jti: claims.jti });
      return 'finding';
    };
    if (table.has(seq)) {
      if (table.hashEquals(seq, hash)) return copyOf();
      sink.report({
        code: 'CONFLICTING_SEQ',
        stream,
        seq,
        jti: claims.jti,
        message: `a different receipt already holds seq ${seq}`,
      });
      table.markFinding(seq);
      return 'finding';
    }
    const start = options.starts?.get(stream);
    if (start && seq <= start.seq) return copyOf(); // audited before a restart: a re-delivery
    const problems = checkPolicy(claims, checked.req, options.policies);
    const prev = digestWords(claims.prev);
    table.put(seq, claims.outcome, claims.iat, hash, prev);
    const links = checkLinks(table, claims, hash, prev, remembered(stream));
    for (const f of links.findings) sink.report(f);
    const linked = links.ok;
    for (const f of checked.found) sink.report({ ...f, stream, seq, jti: claims.jti });
    for (const message of problems) {
      sink.report({ code: 'POLICY_VIOLATION', stream, seq, jti: claims.jti, message });
    }
    const twice = answers.add(claims);
    for (const f of twice) sink.report(f);
    const flagged = checked.found.length > 0 || problems.length > 0 || !linked || twice.length > 0;
    if (flagged) table.markFinding(seq);
    tally.count(claims);
    return flagged ? 'finding' : 'accepted';
  }

  async function addCheckpoints(entries: readonly CheckpointEntry[]): Promise<void> {
    const verified = await Promise.all(
      entries.map(async (e) => {
        try {
          return { entry: e, claims: await verifiers.checkpoint(e.token) };
        } catch (err) {
          rethrowUnlessVerificationFailure(err);
          return { entry: e, err };
        }
      }),
    );
    for (const v of verified) {
      if (v.claims === undefined) {
        const finding = checkpointFailure(v.entry.token, v.err);
        if (!foreign(finding.stream)) sink.report(finding);
        continue;
      }
      const cp = v.claims;
      if (options.gateway && cp.iss !== options.gateway) continue;
      if (gatewayOf(cp.stream) !== cp.iss) {
        sink.report({
          code: 'CHECKPOINT_INVALID',
          stream: cp.stream,
          seq: cp.seq,
          jti: null,
          message: `checkpoint of ${cp.stream} signed by ${cp.iss}`,
        });
        continue;
      }
      checkpoints.add(v.entry, cp);
    }
  }

  function heads(): Map<string, StreamStart> {
    const out = new Map<string, StreamStart>();
    for (const [stream, s] of streams) {
      const start = options.starts?.get(stream);
      let seq = start?.seq ?? (scope.kind === 'full' ? 0 : (s.table.minSeq ?? 1) - 1);
      while (s.table.has(seq + 1)) seq++;
      const words = s.table.hashWords(seq);
      if (words) out.set(stream, { seq, head: wordsToB64u(words) });
      else if (start) out.set(stream, { seq: start.seq, head: start.head });
    }
    return out;
  }

  let memory: Map<string, RememberedStream> | undefined;
  function finish(source: AuditSource, extra: FinishOptions = {}): AuditReport {
    // End-of-run checks report findings: running them twice would count them twice.
    if (memory) throw new AuditError('INTERNAL', 'Auditor.finish() may be called once');
    memory = new Map();
    const names = new Set([...streams.keys(), ...checkpoints.streams()]);
    for (const m of [options.remembered, options.starts]) {
      for (const stream of m?.keys() ?? []) if (!foreign(stream)) names.add(stream);
    }
    const summaries: StreamSummary[] = [];
    const logAlone: string[] = [];
    for (const stream of [...names].sort((a, b) => a.localeCompare(b))) {
      const { table, gateway, signedSeq } = streamState(stream);
      const analyzed = checkpoints.analyze(stream);
      for (const f of analyzed?.findings ?? []) sink.report(f);
      const r = remembered(stream);
      if (options.checkpointLogOnly && scope.kind !== 'partial' && analyzed?.chain.newest && !r) {
        logAlone.push(stream);
      }
      const proved = proveStream({
        stream,
        table,
        chain: analyzed?.chain,
        remembered: r,
        scope:
          scope.kind === 'partial' && extra.checkpointsUntil !== undefined
            ? { kind: 'partial', checkpointsUntil: extra.checkpointsUntil }
            : scope,
        resumed: options.starts?.has(stream) === true,
        signedSeq,
        retentionSec: options.archiveRetentionSec,
        now: Math.floor(options.clock.now() / 1000),
      });
      for (const f of proved.findings) sink.report(f);
      const { proof } = proved;
      const ok = sink.inStream(stream) === 0;
      summaries.push({
        stream,
        gateway,
        firstSeq: proof.startSeq,
        lastSeq: table.maxSeq,
        receipts: table.count,
        missing: proved.missing,
        checkpointSeq: analyzed?.chain.newest?.claims.seq ?? null,
        proof,
        status: ok ? 'ok' : 'broken',
        timeline:
          proof.startSeq === null || table.maxSeq === null
            ? []
            : timeline(table, Math.min(proof.startSeq, table.minSeq!), table.maxSeq),
      });
      const words = proof.endSeq === null ? undefined : table.hashWords(proof.endSeq);
      const newest = analyzed?.chain.newest;
      const first =
        proof.start === 'genesis' && proof.startSeq === 1 ? table.hashWords(1) : undefined;
      const firstIat = table.iatOf(1);
      const next = nextMemory(
        r,
        {
          ok,
          endSeq: proof.endSeq,
          endHash: words && wordsToB64u(words),
          ...(first && firstIat !== undefined
            ? { genesis: { seq: 1, head: wordsToB64u(first), iat: firstIat } }
            : {}),
        },
        newest && { index: newest.claims.index, hash: newest.hash },
      );
      if (next) memory.set(stream, next);
    }
    const notes = [...(extra.notes ?? [])];
    if (scope.kind === 'full' && checkpoints.streams().length === 0 && !options.remembered?.size) {
      notes.push(
        'no checkpoint and no remembered state: nothing here shows whether the archive once held more',
      );
    }
    if (logAlone.length > 0) {
      const which =
        logAlone.length <= 3
          ? logAlone.join(', ')
          : `${logAlone.slice(0, 3).join(', ')} and ${logAlone.length - 3} more`;
      notes.push(
        `no checkpoint mirror and no remembered state for ${which}: a rollback of the checkpoint log together with the archive cannot be seen`,
      );
    }
    const report = buildReport({
      source,
      generatedAt: options.clock.now(),
      tally,
      findings: sink,
      streams: summaries,
      notes,
    });
    metrics.count('audit_runs_total', { verdict: report.clean ? 'clean' : 'findings' });
    return report;
  }

  /** Settles once every earlier call was applied (never rejects: each caller sees its own). */
  let applied: Promise<unknown> = Promise.resolve();
  const ingestMany = (details: readonly unknown[]): Promise<IngestResult[]> => {
    const prepared = Promise.all(details.map(prepare)); // verifying starts now, in parallel
    const results = applied.then(() => prepared).then((ps) => ps.map(apply));
    applied = results.catch(() => undefined);
    return results;
  };

  return {
    ingest: async (detail) => (await ingestMany([detail]))[0]!,
    ingestMany,
    malformed(message) {
      tally.events++;
      sink.report({ code: 'MALFORMED_EVENT', stream: null, seq: null, jti: null, message });
    },
    addCheckpoint: (checkpoint) =>
      addCheckpoints([typeof checkpoint === 'string' ? { token: checkpoint } : checkpoint]),
    addCheckpoints,
    heads,
    findingCount: () => sink.total,
    finish,
    memory() {
      if (!memory) throw new AuditError('INTERNAL', 'Auditor.memory() needs finish() first');
      return new Map(memory);
    },
  };
}
