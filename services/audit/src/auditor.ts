// The audit core: feed it receipt events in any order, duplicated or not; it verifies each receipt
// and the request inside, places the receipt in its stream's chain, and builds the report.
// Keyed on the receipt's own (stream, seq, hash) — never on bus event ids, which change on replay.
// Memory: the typed-array chain table (37 bytes a receipt, see seq-table.ts), per-party totals and
// at most `maxFindings` stored findings; everything else is counters.
import {
  AUDIT_REPORT_VERSION,
  GENESIS_PREV,
  ReceiptEventDetail,
  VerificationCodes,
  compareDecimals,
  fromScaled,
  gatewayOf,
  multiplyDecimals,
  toScaled,
  type AuditReport,
  type AuditSource,
  type CheckpointClaims,
  type Clock,
  type Finding,
  type FindingCode,
  type Outcome,
  type ReceiptClaims,
  type RequestClaims,
  type RequesterPolicy,
  type StreamSummary,
  type TimelineBin,
} from '@countersign/contracts';
import { digestWords, sha256B64u, wordsToB64u } from './digest.ts';
import type { FindingListener, StreamStart, TokenVerifiers } from './ports.ts';
import { StreamTable } from './seq-table.ts';

export interface AuditorOptions {
  readonly verifiers: TokenVerifiers;
  /** Skew allowed around the request's [nbf, exp] when placing the receipt's iat. */
  readonly clockSkewSec: number;
  readonly clock: Clock;
  /**
   * Window mode (a time-range replay): a stream's expected first seq is the lowest seq seen, not
   * 1, and checkpoints signed after `checkpointsUntil` (epoch s) are only checked for a match.
   */
  readonly window?: { readonly checkpointsUntil: number | null };
  /** Resume points (a live consumer after restart): stream -> last audited seq and its hash. */
  readonly starts?: ReadonlyMap<string, StreamStart>;
  /** Only audit this gateway's streams; events of others are skipped (not counted). */
  readonly gateway?: string;
  /** Known policies by version: EXECUTED receipts are re-checked against them when present. */
  readonly policies?: ReadonlyMap<string, RequesterPolicy>;
  /** Findings kept in the report (all are counted). Default 10,000. */
  readonly maxFindings?: number;
  readonly onFinding?: FindingListener;
}

export type IngestResult = 'accepted' | 'duplicate' | 'finding' | 'skipped';

export interface Auditor {
  /**
   * Audits one bus event detail (unvalidated). Bad data is a finding, never an exception; it
   * throws only when it could not audit (e.g. a key store is unreachable): retry those.
   */
  ingest(detail: unknown): Promise<IngestResult>;
  /**
   * Audits several event details, in order. The signatures of all of them are checked at once
   * (on the thread pool, so on every core); the results are then applied one by one in the
   * given order, exactly as `ingest` would, so the outcome does not depend on timing.
   */
  ingestMany(details: readonly unknown[]): Promise<IngestResult[]>;
  /** Records a delivery that is not even an event (unparseable queue message). */
  malformed(message: string): void;
  /** Adds a signed checkpoint (the latest per stream wins). */
  addCheckpoint(token: string): Promise<void>;
  /** Contiguous audited head of each stream (for resuming a live audit). */
  heads(): Map<string, StreamStart>;
  /** Number of findings so far (before end-of-run checks). */
  findingCount(): number;
  /** Runs the end-of-run checks (gaps, checkpoints) and returns the report. */
  finish(source: AuditSource): AuditReport;
}

const SCALE = 16;
const TIMELINE_BINS = 120;

interface Party {
  receipts: number;
  executed: number;
  notional: bigint;
}

interface StreamState {
  readonly gateway: string;
  readonly table: StreamTable;
  findings: number;
}

/**
 * Verification failures become findings; anything else (a key store down, a bug) is thrown so
 * the caller retries instead of reporting tampering that did not happen.
 */
function rethrowUnlessVerificationFailure(err: unknown): void {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !VERIFICATION_CODES.has(code)) throw err;
}

const VERIFICATION_CODES = new Set<string>(Object.values(VerificationCodes));

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN_ERROR';
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reads stream/seq/jti from an unverified receipt, for attributing a signature finding only. */
export function peekUnverified(token: string): {
  stream: string | null;
  seq: number | null;
  jti: string | null;
} {
  const none = { stream: null, seq: null, jti: null };
  const part = token.split('.')[1];
  if (!part) return none;
  try {
    const unverifiedClaims = JSON.parse(
      Buffer.from(part, 'base64url').toString('utf8'),
      (k, v: unknown) => (k === '__proto__' ? undefined : v),
    ) as Record<string, unknown>;
    return {
      stream:
        typeof unverifiedClaims.stream === 'string' ? unverifiedClaims.stream.slice(0, 80) : null,
      seq: Number.isSafeInteger(unverifiedClaims.seq) ? (unverifiedClaims.seq as number) : null,
      jti: typeof unverifiedClaims.jti === 'string' ? unverifiedClaims.jti.slice(0, 64) : null,
    };
  } catch {
    return none;
  }
}

const RECEIPT_SIGNATURE_CODES = new Set([
  'TOKEN_TOO_LARGE',
  'MALFORMED',
  'UNSUPPORTED_HEADER',
  'ALG_NOT_ALLOWED',
  'UNKNOWN_KID',
  'BAD_SIGNATURE',
]);

export function createAuditor(options: AuditorOptions): Auditor {
  const { verifiers, clockSkewSec } = options;
  const maxFindings = options.maxFindings ?? 10_000;
  const streams = new Map<string, StreamState>();
  const findings: Finding[] = [];
  const findingsByCode: Partial<Record<FindingCode, number>> = {};
  let findingTotal = 0;
  let events = 0;
  let duplicates = 0;
  const byOutcome: Record<Outcome, number> = { EXECUTED: 0, REJECTED: 0, FAILED: 0, UNKNOWN: 0 };
  const rejections = new Map<string, number>();
  const accounts = new Map<string, Party>();
  const requesters = new Map<string, Party>();
  const checkpoints = new Map<string, CheckpointClaims>();

  function report(finding: Finding): void {
    findingTotal++;
    findingsByCode[finding.code] = (findingsByCode[finding.code] ?? 0) + 1;
    if (findings.length < maxFindings) findings.push(finding);
    if (finding.stream) {
      const s = streams.get(finding.stream);
      if (s) s.findings++;
    }
    options.onFinding?.(finding);
  }

  function streamState(stream: string): StreamState {
    let s = streams.get(stream);
    if (!s) {
      s = { gateway: gatewayOf(stream), table: new StreamTable(), findings: 0 };
      streams.set(stream, s);
    }
    return s;
  }

  function party(map: Map<string, Party>, id: string | null): Party {
    const key = id ?? '(unverified)';
    let p = map.get(key);
    if (!p) {
      p = { receipts: 0, executed: 0, notional: 0n };
      map.set(key, p);
    }
    return p;
  }

  /** Checks the request inside a receipt; returns the findings (not yet reported). */
  async function checkRequest(
    claims: ReceiptClaims,
    request: string | null,
  ): Promise<{ found: Omit<Finding, 'stream' | 'seq' | 'jti'>[]; req: RequestClaims | null }> {
    const found: Omit<Finding, 'stream' | 'seq' | 'jti'>[] = [];
    const rejected = claims.outcome === 'REJECTED';
    if (request === null) {
      if (!rejected) {
        found.push({
          code: 'REQUEST_INVALID',
          message: `${claims.outcome} receipt carries no request token`,
          verifierCode: 'MISSING',
        });
      }
      return { found, req: null };
    }
    if (sha256B64u(request) !== claims.req.sha256) {
      found.push({
        code: 'REQUEST_HASH_MISMATCH',
        message: 'req.sha256 is not the SHA-256 of the request token in the event',
      });
    }
    // A REJECTED receipt may carry a request that never verified: that is why it was rejected.
    if (rejected) return { found, req: null };
    let req: RequestClaims;
    try {
      req = await verifiers.request(request, { audience: claims.iss, at: claims.iat * 1000 });
    } catch (err) {
      rethrowUnlessVerificationFailure(err);
      const code = errorCode(err);
      const timing = code === 'EXPIRED' || code === 'NOT_YET_VALID';
      found.push({
        code: timing ? 'OUTSIDE_VALIDITY_WINDOW' : 'REQUEST_INVALID',
        message: timing
          ? `request was ${code === 'EXPIRED' ? 'expired' : 'not yet valid'} at the receipt's iat ${claims.iat}`
          : `request token fails verification as of the receipt's time: ${errorMessage(err)}`,
        verifierCode: code,
      });
      return { found, req: null };
    }
    const mismatches: string[] = [];
    if (req.jti !== claims.req.jti) mismatches.push('jti');
    if (req.iss !== claims.req.iss) mismatches.push('iss');
    if (req.sub !== claims.req.sub) mismatches.push('sub');
    if (req.aud !== claims.iss) mismatches.push('aud');
    if (mismatches.length > 0) {
      found.push({
        code: 'REQUEST_MISMATCH',
        message: `receipt and request disagree on ${mismatches.join(', ')}`,
      });
    }
    if (claims.iat < req.nbf - clockSkewSec || claims.iat > req.exp + clockSkewSec) {
      found.push({
        code: 'OUTSIDE_VALIDITY_WINDOW',
        message: `receipt iat ${claims.iat} outside the request's [nbf ${req.nbf}, exp ${req.exp}] ± ${clockSkewSec}s`,
      });
    }
    return { found, req };
  }

  /** EXECUTED receipts: the order must have been possible under the recorded policy. */
  function checkPolicy(claims: ReceiptClaims, req: RequestClaims | null): string[] {
    if (claims.outcome !== 'EXECUTED') return [];
    const problems: string[] = [];
    if (!claims.policy) return ['EXECUTED receipt records no policy'];
    if (!req) return problems; // already a REQUEST_* finding; nothing to check against
    const notional = multiplyDecimals(req.txn.quantity, req.txn.limitPrice);
    if (compareDecimals(notional, claims.policy.maxNotional) > 0) {
      problems.push(
        `notional ${notional} (quantity × limitPrice) exceeds the recorded maxNotional ${claims.policy.maxNotional}`,
      );
    }
    let filled = 0n;
    for (const f of claims.fills) {
      filled += toScaled(f.quantity, 8);
      const cmp = compareDecimals(f.price, req.txn.limitPrice);
      if ((req.txn.side === 'buy' && cmp > 0) || (req.txn.side === 'sell' && cmp < 0)) {
        problems.push(
          `fill price ${f.price} is beyond the limit ${req.txn.limitPrice} for a ${req.txn.side}`,
        );
      }
    }
    if (filled > toScaled(req.txn.quantity, 8)) {
      problems.push(
        `fills total ${fromScaled(filled, 8)} exceeds the ordered quantity ${req.txn.quantity}`,
      );
    }
    const known = options.policies?.get(claims.policy.version);
    if (options.policies && !known) {
      problems.push(`policy version ${claims.policy.version} is not a configured policy`);
    } else if (known) {
      if (known.id !== req.iss)
        problems.push(`policy ${known.id} is not the requester's (${req.iss})`);
      if (!known.accounts.includes(req.sub))
        problems.push(`account ${req.sub} not allowed by policy ${known.id}`);
      if (!known.symbols.includes(req.txn.symbol))
        problems.push(`symbol ${req.txn.symbol} not allowed by policy ${known.id}`);
      if (!known.sides.includes(req.txn.side))
        problems.push(`side ${req.txn.side} not allowed by policy ${known.id}`);
      if (compareDecimals(known.maxNotional, claims.policy.maxNotional) !== 0) {
        problems.push(
          `recorded maxNotional ${claims.policy.maxNotional} differs from policy ${known.id} (${known.maxNotional})`,
        );
      }
    }
    return problems;
  }

  /** Checks the links between seq and its neighbours; reports CHAIN_BROKEN on the later receipt. */
  function checkLinks(
    s: StreamState,
    stream: string,
    claims: ReceiptClaims,
    hash: Uint32Array,
    prev: Uint32Array,
  ): boolean {
    const { seq } = claims;
    let ok = true;
    const start = options.starts?.get(stream);
    if (seq === 1) {
      if (claims.prev !== GENESIS_PREV) {
        ok = false;
        report({
          code: 'CHAIN_BROKEN',
          stream,
          seq,
          jti: claims.jti,
          message: 'seq 1 does not start from the genesis prev',
        });
      }
    } else if (s.table.has(seq - 1)) {
      if (!s.table.hashEquals(seq - 1, prev)) {
        ok = false;
        report({
          code: 'CHAIN_BROKEN',
          stream,
          seq,
          jti: claims.jti,
          message: `prev is not the hash of receipt ${seq - 1}`,
        });
      }
    } else if (start && start.seq === seq - 1) {
      const head = digestWords(start.head);
      if (!head.every((w, i) => w === prev[i])) {
        ok = false;
        report({
          code: 'CHAIN_BROKEN',
          stream,
          seq,
          jti: claims.jti,
          message: `prev is not the hash of the audited head ${start.seq}`,
        });
      }
    }
    if (s.table.has(seq + 1) && !s.table.prevEquals(seq + 1, hash)) {
      s.table.markFinding(seq + 1);
      report({
        code: 'CHAIN_BROKEN',
        stream,
        seq: seq + 1,
        jti: null,
        message: `prev of receipt ${seq + 1} is not the hash of receipt ${seq} (${claims.jti})`,
      });
    }
    return ok;
  }

  /** What `apply` needs of an event: everything that awaits (parsing and both signatures). */
  type Prepared =
    | { readonly kind: 'malformed'; readonly message: string }
    | { readonly kind: 'badReceipt'; readonly receipt: string; readonly err: unknown }
    | {
        readonly kind: 'verified';
        readonly receipt: string;
        readonly claims: ReceiptClaims;
        /** undefined when the receipt is skipped (another gateway's stream). */
        readonly checked: Awaited<ReturnType<typeof checkRequest>> | undefined;
      };

  async function prepare(detail: unknown): Promise<Prepared> {
    const parsed = ReceiptEventDetail.safeParse(detail);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        kind: 'malformed',
        message: `event detail is not a receipt event: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
      };
    }
    const { receipt, request } = parsed.data;
    let claims: ReceiptClaims;
    try {
      claims = await verifiers.receipt(receipt);
    } catch (err) {
      rethrowUnlessVerificationFailure(err);
      return { kind: 'badReceipt', receipt, err };
    }
    const skipped = options.gateway !== undefined && claims.iss !== options.gateway;
    const checked = skipped ? undefined : await checkRequest(claims, request);
    return { kind: 'verified', receipt, claims, checked };
  }

  /** The audit of one prepared event: synchronous, so events apply strictly in order. */
  function apply(p: Prepared): IngestResult {
    if (p.kind === 'malformed') {
      events++;
      report({ code: 'MALFORMED_EVENT', stream: null, seq: null, jti: null, message: p.message });
      return 'finding';
    }
    if (p.kind === 'badReceipt') {
      const { receipt, err } = p;
      const at = peekUnverified(receipt);
      if (options.gateway && at.stream !== null && gatewayOf(at.stream) !== options.gateway)
        return 'skipped';
      events++;
      const code = errorCode(err);
      report({
        code: RECEIPT_SIGNATURE_CODES.has(code)
          ? 'BAD_RECEIPT_SIGNATURE'
          : code === 'ISSUER_NOT_TRUSTED'
            ? 'UNTRUSTED_GATEWAY'
            : 'RECEIPT_INVALID',
        ...at,
        message: `receipt fails verification (claims shown unverified): ${errorMessage(err)}`,
        verifierCode: code,
      });
      return 'finding';
    }
    const { receipt, claims, checked } = p;
    const { stream, seq } = claims;
    if (checked === undefined) return 'skipped';
    events++;
    if (gatewayOf(stream) !== claims.iss) {
      report({
        code: 'RECEIPT_INVALID',
        stream,
        seq,
        jti: claims.jti,
        message: `stream ${stream} does not belong to issuer ${claims.iss}`,
      });
      return 'finding';
    }
    const s = streamState(stream);
    const hashB64u = sha256B64u(receipt);
    const hash = digestWords(hashB64u);
    if (s.table.has(seq)) {
      if (s.table.hashEquals(seq, hash)) {
        duplicates++;
        return 'duplicate';
      }
      report({
        code: 'CONFLICTING_SEQ',
        stream,
        seq,
        jti: claims.jti,
        message: `a different receipt already holds seq ${seq}`,
      });
      s.table.markFinding(seq);
      return 'finding';
    }
    const start = options.starts?.get(stream);
    if (start && seq <= start.seq) {
      // Already audited before a restart: re-delivery of an old receipt.
      duplicates++;
      return 'duplicate';
    }

    const { found, req } = checked;
    const problems = checkPolicy(claims, req);
    s.table.put(seq, claims.outcome, claims.iat, hash, digestWords(claims.prev));
    const linked = checkLinks(s, stream, claims, hash, digestWords(claims.prev));
    for (const f of found) report({ ...f, stream, seq, jti: claims.jti });
    for (const message of problems)
      report({ code: 'POLICY_VIOLATION', stream, seq, jti: claims.jti, message });
    const flagged = found.length > 0 || problems.length > 0 || !linked;
    if (flagged) s.table.markFinding(seq);

    byOutcome[claims.outcome]++;
    if (claims.outcome !== 'EXECUTED' && claims.reason) {
      rejections.set(claims.reason, (rejections.get(claims.reason) ?? 0) + 1);
    }
    let notional = 0n;
    if (claims.outcome === 'EXECUTED') {
      for (const f of claims.fills) notional += toScaled(f.quantity, 8) * toScaled(f.price, 8);
    }
    for (const p of [party(accounts, claims.req.sub), party(requesters, claims.req.iss)]) {
      p.receipts++;
      if (claims.outcome === 'EXECUTED') p.executed++;
      p.notional += notional;
    }
    return flagged ? 'finding' : 'accepted';
  }

  async function ingest(detail: unknown): Promise<IngestResult> {
    return apply(await prepare(detail));
  }

  async function ingestMany(details: readonly unknown[]): Promise<IngestResult[]> {
    const prepared = await Promise.all(details.map(prepare));
    return prepared.map(apply);
  }

  async function addCheckpoint(token: string): Promise<void> {
    let cp: CheckpointClaims;
    try {
      cp = await verifiers.checkpoint(token);
    } catch (err) {
      rethrowUnlessVerificationFailure(err);
      const at = peekUnverified(token);
      if (options.gateway && at.stream !== null && gatewayOf(at.stream) !== options.gateway) return;
      report({
        code: 'CHECKPOINT_INVALID',
        stream: at.stream,
        seq: at.seq,
        jti: null,
        message: `checkpoint fails verification: ${errorMessage(err)}`,
        verifierCode: errorCode(err),
      });
      return;
    }
    if (options.gateway && cp.iss !== options.gateway) return;
    if (gatewayOf(cp.stream) !== cp.iss) {
      report({
        code: 'CHECKPOINT_INVALID',
        stream: cp.stream,
        seq: cp.seq,
        jti: null,
        message: `checkpoint of ${cp.stream} signed by ${cp.iss}`,
      });
      return;
    }
    const had = checkpoints.get(cp.stream);
    if (!had || cp.seq > had.seq) checkpoints.set(cp.stream, cp);
  }

  function heads(): Map<string, StreamStart> {
    const out = new Map<string, StreamStart>();
    for (const [stream, s] of streams) {
      const start = options.starts?.get(stream);
      let seq = start?.seq ?? (options.window ? (s.table.minSeq ?? 1) - 1 : 0);
      while (s.table.has(seq + 1)) seq++;
      const words = s.table.hashWords(seq);
      if (words) out.set(stream, { seq, head: wordsToB64u(words) });
      else if (start) out.set(stream, start);
    }
    return out;
  }

  function timeline(table: StreamTable, from: number, to: number): TimelineBin[] {
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

  let finished = false;
  function finish(source: AuditSource): AuditReport {
    // End-of-run checks report findings: running them twice would count them twice.
    if (finished) throw new Error('Auditor.finish() may be called once');
    finished = true;
    // Checkpoints first, so a stream that only has a checkpoint (every receipt deleted) shows up.
    for (const [stream, cp] of checkpoints) {
      const s = streamState(stream);
      const last = s.table.maxSeq ?? options.starts?.get(stream)?.seq ?? 0;
      const applies =
        !options.window ||
        options.window.checkpointsUntil === null ||
        cp.iat <= options.window.checkpointsUntil;
      if (cp.seq > last) {
        if (applies) {
          report({
            code: 'TAIL_TRUNCATED',
            stream,
            seq: cp.seq,
            jti: null,
            message: `checkpoint at seq ${cp.seq} but the last receipt seen is ${last}`,
          });
        }
      } else if (
        cp.seq > 0 &&
        s.table.has(cp.seq) &&
        !s.table.hashEquals(cp.seq, digestWords(cp.head))
      ) {
        s.table.markFinding(cp.seq);
        report({
          code: 'CHECKPOINT_MISMATCH',
          stream,
          seq: cp.seq,
          jti: null,
          message: `receipt ${cp.seq} does not hash to the checkpoint head`,
        });
      }
    }
    const summaries: StreamSummary[] = [];
    for (const [stream, s] of [...streams].sort(([a], [b]) => a.localeCompare(b))) {
      const { table } = s;
      const start = options.starts?.get(stream);
      let missing = 0;
      if (table.maxSeq !== null) {
        const lower = start ? start.seq + 1 : options.window ? table.minSeq! : 1;
        for (const [a, b] of table.missingRanges(lower, table.maxSeq)) {
          missing += b - a + 1;
          report({
            code: 'SEQ_GAP',
            stream,
            seq: a,
            jti: null,
            message:
              a === b
                ? `receipt ${a} is missing`
                : `receipts ${a}..${b} are missing (${b - a + 1})`,
          });
        }
      }
      const first = start
        ? start.seq + 1
        : options.window
          ? table.minSeq
          : table.maxSeq === null
            ? null
            : 1;
      summaries.push({
        stream,
        gateway: s.gateway,
        firstSeq: first,
        lastSeq: table.maxSeq,
        receipts: table.count,
        missing,
        checkpointSeq: checkpoints.get(stream)?.seq ?? null,
        status: s.findings > 0 ? 'broken' : 'ok',
        timeline:
          first === null || table.maxSeq === null ? [] : timeline(table, first, table.maxSeq),
      });
    }
    const totals = (map: Map<string, Party>) =>
      [...map]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([id, p]) => ({
          id,
          receipts: p.receipts,
          executed: p.executed,
          notional: fromScaled(p.notional, SCALE),
        }));
    return {
      version: AUDIT_REPORT_VERSION,
      generatedAt: new Date(options.clock.now()).toISOString(),
      source,
      clean: findingTotal === 0,
      summary: {
        events,
        receipts: summaries.reduce((n, s) => n + s.receipts, 0),
        duplicates,
        byOutcome: { ...byOutcome },
        rejectionsByReason: Object.fromEntries(
          [...rejections].sort(([a], [b]) => a.localeCompare(b)),
        ),
        accounts: totals(accounts),
        requesters: totals(requesters),
        findingsByCode: { ...findingsByCode },
        streams: summaries,
      },
      findings: [...findings],
      findingsOmitted: findingTotal - findings.length,
    };
  }

  function malformed(message: string): void {
    events++;
    report({ code: 'MALFORMED_EVENT', stream: null, seq: null, jti: null, message });
  }

  return {
    ingest,
    ingestMany,
    malformed,
    addCheckpoint,
    heads,
    findingCount: () => findingTotal,
    finish,
  };
}
