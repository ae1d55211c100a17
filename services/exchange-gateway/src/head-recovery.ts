// `countersign gateway recover-head` (issue 13 F4): after the nonce store lost its chain heads,
// restore each head from what cannot lie about it: the newest checkpoint that verifies with the
// gateway's key, extended by the archive's receipts that verify and chain onto it. Refuses a
// stream when those two disagree (the archive holds another receipt at the checkpoint's seq,
// receipts that do not link, two receipts for one seq, or receipts after a gap), because then
// there is no single head to restore and a human must look.
//
// It also rebuilds the COMPLETED nonce records the store lost (`iss#jti` and `msg#<messageId>`)
// from the archive's receipts that verify with the gateway's key and are inside the retention:
// a message still on the queue is then answered by republishing its receipt, never executed or
// answered a second time.
import {
  NonceKeys,
  Outcomes,
  ReasonCodes,
  ReceiptEventDetail,
  embeddedPaths,
  systemClock,
  type CheckpointClaims,
  type Clock,
  type CountersignConfig,
  type ReceiptClaims,
} from '@countersign/contracts';
import {
  createSqliteNonceStore,
  type ChainHead,
  type NonceStore,
  type RestoredRecord,
} from '@countersign/replay-guard';
import { acquireRoleLock } from '@countersign/sqlite';
import { createSqliteEventBus, type EventArchive } from '@countersign/transport';
import { createSqliteCheckpointLog } from './checkpoint-log.ts';
import { GatewayError } from './errors.ts';
import {
  archivedReceipts,
  headDisagreement,
  ownTokenVerifiers,
  readHeadStates,
  type CheckpointVerify,
} from './head-check.ts';
import { silentLogger, type CheckpointStore, type Logger } from './ports.ts';
import { sha256B64u } from './receipts.ts';
import { receiptChainHash } from '@countersign/contracts';

export interface HeadRecoveryOptions {
  readonly gatewayId: string;
  readonly partitions: number;
  readonly nonceStore: Pick<NonceStore, 'head'>;
  readonly checkpoints: CheckpointStore;
  readonly archive: Pick<EventArchive, 'read'>;
  readonly verifyCheckpoint: CheckpointVerify;
  readonly verifyReceipt: (token: string) => Promise<ReceiptClaims>;
  readonly logger?: Logger;
}

export interface StreamRecovery {
  readonly stream: string;
  readonly current: ChainHead;
  readonly checkpoint: Pick<CheckpointClaims, 'index' | 'seq' | 'head'> | null;
  /** ok: nothing to do; restore: `restore` is the head to write; refused: see `message`. */
  readonly status: 'ok' | 'restore' | 'refused';
  readonly restore: ChainHead | null;
  readonly message: string;
}

interface Link {
  readonly hash: string;
  readonly prev: string;
}

/** Receipts of these streams at or after `from[stream]`, verified, by seq (conflicts marked). */
async function archivedTails(
  archive: Pick<EventArchive, 'read'>,
  from: ReadonlyMap<string, number>,
  verifyReceipt: (token: string) => Promise<ReceiptClaims>,
): Promise<Map<string, Map<number, Link | 'conflict'>>> {
  const out = new Map<string, Map<number, Link | 'conflict'>>();
  for await (const { receipt, stream, seq } of archivedReceipts(archive, 0)) {
    const start = from.get(stream);
    if (start === undefined || seq < start) continue;
    let claims: ReceiptClaims;
    try {
      claims = await verifyReceipt(receipt);
    } catch {
      continue; // not ours to trust: a forged receipt must not move a head
    }
    const seqs = out.get(claims.stream) ?? new Map<number, Link | 'conflict'>();
    out.set(claims.stream, seqs);
    const link = { hash: receiptChainHash(receipt), prev: claims.prev };
    const had = seqs.get(claims.seq);
    if (had === undefined) seqs.set(claims.seq, link);
    else if (had === 'conflict' || had.hash !== link.hash) seqs.set(claims.seq, 'conflict');
  }
  return out;
}

/** The head the checkpoint and the archive agree on, or why they do not. */
function walk(
  cp: Pick<CheckpointClaims, 'seq' | 'head'>,
  seqs: ReadonlyMap<number, Link | 'conflict'> | undefined,
  stream: string,
): { head: ChainHead } | { refused: string } {
  const at = seqs?.get(cp.seq);
  if (at === 'conflict') return { refused: `the archive holds two receipts for seq ${cp.seq}` };
  if (at && at.hash !== cp.head) {
    return { refused: `the archive's receipt ${cp.seq} is not the one the checkpoint names` };
  }
  let head: ChainHead = { stream, seq: cp.seq, hash: cp.head };
  for (;;) {
    const next = seqs?.get(head.seq + 1);
    if (next === undefined) break;
    if (next === 'conflict') {
      return { refused: `the archive holds two receipts for seq ${head.seq + 1}` };
    }
    if (next.prev !== head.hash) {
      return { refused: `the archive's receipt ${head.seq + 1} does not link to ${head.seq}` };
    }
    head = { stream, seq: head.seq + 1, hash: next.hash };
  }
  const beyond = [...(seqs?.keys() ?? [])].filter((s) => s > head.seq + 1);
  if (beyond.length > 0) {
    return {
      refused: `the archive has receipts after a gap at seq ${head.seq + 1} (up to ${Math.max(...beyond)})`,
    };
  }
  return { head };
}

/** Plans the recovery of every stream of this gateway (reads only). */
export async function planHeadRecovery(options: HeadRecoveryOptions): Promise<StreamRecovery[]> {
  const logger = options.logger ?? silentLogger;
  const states = await readHeadStates({ ...options, logger });
  // Every checkpointed stream's tail: a store rolled back to a copy taken after the newest
  // checkpoint agrees with it, and only the archive shows the receipts it lost.
  const from = new Map(states.flatMap((s) => (s.checkpoint ? [[s.stream, s.checkpoint.seq]] : [])));
  const tails =
    from.size === 0
      ? new Map<string, Map<number, Link | 'conflict'>>()
      : await archivedTails(options.archive, from, options.verifyReceipt);
  /** The archive holds a verified receipt past the stored head. */
  const archiveAhead = (s: (typeof states)[number]) =>
    [...(tails.get(s.stream)?.keys() ?? [])].some((seq) => seq > s.head.seq);
  return states.map((s): StreamRecovery => {
    const cp = s.checkpoint
      ? { index: s.checkpoint.index, seq: s.checkpoint.seq, head: s.checkpoint.head }
      : null;
    const base = { stream: s.stream, current: s.head, checkpoint: cp };
    if (!cp || (headDisagreement(s) === undefined && !archiveAhead(s))) {
      return {
        ...base,
        status: 'ok',
        restore: null,
        message: cp
          ? `head at seq ${s.head.seq} agrees with checkpoint #${cp.index} (seq ${cp.seq})`
          : `head at seq ${s.head.seq}, no checkpoint yet`,
      };
    }
    const result = walk(cp, tails.get(s.stream), s.stream);
    if ('refused' in result) {
      return { ...base, status: 'refused', restore: null, message: result.refused };
    }
    if (s.head.seq >= result.head.seq) {
      return {
        ...base,
        status: 'refused',
        restore: null,
        message: `the stored head (seq ${s.head.seq}) is not the receipt the checkpoint and the archive agree on (seq ${result.head.seq})`,
      };
    }
    return {
      ...base,
      status: 'restore',
      restore: result.head,
      message: `restore seq ${result.head.seq} (checkpoint #${cp.index} at seq ${cp.seq}, then ${result.head.seq - cp.seq} archived receipts)`,
    };
  });
}

/** Writes the planned heads; refuses the whole plan when any stream was refused. */
export async function applyHeadRecovery(
  plan: readonly StreamRecovery[],
  nonceStore: Pick<NonceStore, 'restoreHead'>,
): Promise<number> {
  const refused = plan.filter((p) => p.status === 'refused');
  if (refused.length > 0) {
    throw new GatewayError(
      'CHAIN_HEAD_MISMATCH',
      `not restoring: ${refused.map((p) => `${p.stream}: ${p.message}`).join('; ')}`,
      { details: { streams: refused.map((p) => p.stream) } },
    );
  }
  if (!nonceStore.restoreHead) {
    throw new GatewayError('CONFIG_INVALID', 'this nonce store cannot restore chain heads');
  }
  let n = 0;
  for (const p of plan) {
    if (p.restore) {
      await nonceStore.restoreHead(p.restore);
      n += 1;
    }
  }
  return n;
}

const DAY_MS = 86_400_000;
/** The gateway's default receipt retention (how long COMPLETED records are kept). */
export const DEFAULT_RECORD_RETENTION_MS = 14 * DAY_MS;

/** A COMPLETED record rebuilt from an archived receipt, under the key the gateway reads. */
export interface RebuiltRecord extends RestoredRecord {
  readonly key: string;
  /** Stream, seq and issue time of the receipt (the newest answer per key wins). */
  readonly stream: string;
  readonly seq: number;
  readonly iat: number;
}

/**
 * Whether `a` answered after `b`: by seq within one stream (the gateway's own order), by issue
 * time across streams (another gateway, or a repartitioned one; seqs there count apart).
 */
const answeredAfter = (a: RebuiltRecord, b: RebuiltRecord) =>
  a.stream === b.stream ? a.seq > b.seq : a.iat > b.iat;

/**
 * The COMPLETED records the archive's verified receipts imply: `msg#<messageId>` for every
 * receipt (one answer per message), and `iss#jti` for every receipt that answers its request
 * (not a REPLAYED refusal, which answers a copy). Per key the newest receipt wins (an UNKNOWN's
 * resolution after it). Receipts older than the retention are left out: their records would
 * already be gone.
 */
export async function rebuildCompletedRecords(options: {
  readonly archive: Pick<EventArchive, 'read'>;
  readonly verifyReceipt: (token: string) => Promise<ReceiptClaims>;
  readonly now: number;
  readonly retentionMs: number;
}): Promise<RebuiltRecord[]> {
  const out = new Map<string, RebuiltRecord>();
  const put = (r: RebuiltRecord) => {
    const had = out.get(r.key);
    if (!had || answeredAfter(r, had)) out.set(r.key, r);
  };
  for await (const event of options.archive.read({})) {
    const detail = ReceiptEventDetail.safeParse(event.detail);
    if (!detail.success) continue;
    let claims: ReceiptClaims;
    try {
      claims = await options.verifyReceipt(detail.data.receipt);
    } catch {
      continue; // a forged receipt must not answer for a request
    }
    const expiresAt = claims.iat * 1000 + options.retentionMs;
    if (expiresAt <= options.now) continue;
    // The event's fields are only trusted where the signed receipt commits to them.
    if (detail.data.messageId !== claims.messageId) continue;
    const request = detail.data.request ?? null;
    if (request !== null && sha256B64u(request) !== claims.req.sha256) continue;
    const stored = { receipt: detail.data.receipt, request, messageId: claims.messageId };
    const sha = request === null ? {} : { requestSha256: claims.req.sha256 };
    const { stream, seq, iat } = claims;
    put({ key: NonceKeys.message(claims.messageId), stored, expiresAt, stream, seq, iat });
    const replayed = claims.outcome === Outcomes.REJECTED && claims.reason === ReasonCodes.REPLAYED;
    if (claims.req.iss !== null && claims.req.jti !== null && !replayed) {
      const key = NonceKeys.request(claims.req.iss, claims.req.jti);
      put({ key, stored, expiresAt, stream, seq, iat, ...sha });
    }
  }
  return [...out.values()];
}

/** Writes rebuilt records where the store has none; how many it wrote. */
export async function applyCompletedRecords(
  records: readonly RebuiltRecord[],
  nonceStore: Pick<NonceStore, 'restoreCompleted'>,
): Promise<number> {
  if (records.length === 0) return 0;
  if (!nonceStore.restoreCompleted) {
    throw new GatewayError('CONFIG_INVALID', 'this nonce store cannot restore nonce records');
  }
  let n = 0;
  for (const r of records) {
    const { stored, expiresAt } = r;
    const sha = r.requestSha256 === undefined ? {} : { requestSha256: r.requestSha256 };
    if (await nonceStore.restoreCompleted(r.key, { stored, expiresAt, ...sha })) n += 1;
  }
  return n;
}

export interface RecoveryResult {
  readonly plan: readonly StreamRecovery[];
  /** Heads written (0 on a dry run). */
  readonly restored: number;
  /** COMPLETED nonce records the archive's receipts imply (within the retention). */
  readonly records: number;
  /** Of those, written because the store had none (0 on a dry run). */
  readonly recordsRestored: number;
}

export interface RecoverFromConfigOptions {
  readonly apply: boolean;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** How long the gateway keeps COMPLETED records (default 14 days). */
  readonly retentionMs?: number;
}

/**
 * Opens the embedded stores of `config` and plans (and with `apply`, performs) the recovery.
 * Embedded only: an EventBridge archive cannot be read back, and the nonce table is restored
 * with DynamoDB point-in-time recovery instead (see the README). `apply` holds the data
 * directory's `gateway` role lock throughout (LOCKED while a gateway runs): the records it writes
 * replace IN_PROGRESS claims, which must be a dead gateway's, never a live one's mid-execution;
 * and no gateway can start between the heads and the records.
 */
export async function recoverHeadsFromConfig(
  config: CountersignConfig,
  options: RecoverFromConfigOptions,
): Promise<RecoveryResult> {
  if (config.mode !== 'embedded') {
    throw new GatewayError(
      'CONFIG_INVALID',
      'recover-head works on the embedded runtime; in aws mode restore the nonce table with point-in-time recovery',
    );
  }
  const clock = options.clock ?? systemClock;
  const lock = options.apply ? acquireRoleLock(config.dataDir, 'gateway', { clock }) : undefined;
  try {
    return await recoverEmbedded(config, { ...options, clock });
  } finally {
    lock?.release();
  }
}

async function recoverEmbedded(
  config: CountersignConfig,
  options: RecoverFromConfigOptions & { readonly clock: Clock },
): Promise<RecoveryResult> {
  const { clock } = options;
  const paths = embeddedPaths(config.dataDir);
  const nonceStore = createSqliteNonceStore({ path: paths.nonceDb, clock });
  const checkpoints = createSqliteCheckpointLog({ path: paths.checkpointLog });
  const archive = createSqliteEventBus({ path: paths.busDb, clock });
  try {
    const own = ownTokenVerifiers({ config, clock });
    const plan = await planHeadRecovery({
      gatewayId: config.gateway.id,
      partitions: config.gateway.partitions,
      nonceStore,
      checkpoints,
      archive,
      verifyCheckpoint: own.checkpoint,
      verifyReceipt: own.receipt,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const restored = options.apply ? await applyHeadRecovery(plan, nonceStore) : 0;
    const records = await rebuildCompletedRecords({
      archive,
      verifyReceipt: own.receipt,
      now: clock.now(),
      retentionMs: options.retentionMs ?? DEFAULT_RECORD_RETENTION_MS,
    });
    const recordsRestored = options.apply ? await applyCompletedRecords(records, nonceStore) : 0;
    return { plan, restored, records: records.length, recordsRestored };
  } finally {
    await archive.close();
    await checkpoints.close();
    await nonceStore.close();
  }
}
