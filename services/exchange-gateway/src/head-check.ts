// The start-up check of issue 13 F4: a gateway whose chain heads (in the nonce store) are behind
// its own newest signed checkpoint refuses to start. An emptied, lost or rolled-back
// `nonces.sqlite` (or nonce table) would otherwise restart a stream at seq 1 and sign a second
// receipt for every seq the archive already holds. The recovery is `countersign gateway
// recover-head` (head-recovery.ts).
//
// A head ahead of the newest checkpoint is normal (receipts signed after it: a crash before the
// next checkpoint); the gateway then signs a checkpoint of that head at once, so the tail a
// kill -9 left unprotected is covered before anything else happens.
//
// The checkpoint alone misses a store rolled back to a copy taken after the newest checkpoint
// (its head agrees with the checkpoint, the archive holds receipts past it). Where the archive is
// local (embedded), the start also reads it from shortly before the newest checkpoint: a verified
// receipt of a stream past its head, or another receipt at its head, refuses the start as well.
import type { KMSClient } from '@aws-sdk/client-kms';
import {
  TokenTypes,
  embeddedPaths,
  gatewayOf,
  streamOf,
  type CheckpointClaims,
  type Clock,
  type CountersignConfig,
  type ReceiptClaims,
  ReceiptEventDetail,
  receiptChainHash,
} from '@countersign/contracts';
import type { EventArchive } from '@countersign/transport';
import type { ChainHead, NonceStore } from '@countersign/replay-guard';
import type { Signer } from '@countersign/signing';
import {
  combineKeys,
  createVerifier,
  decodeUnverified,
  partyKeys,
  staticKeys,
} from '@countersign/verifier';
import type { Checkpointer } from './checkpoints.ts';
import { GatewayError } from './errors.ts';
import type { CheckpointStore, Logger } from './ports.ts';

export type CheckpointVerify = (token: string) => Promise<CheckpointClaims>;

/** How far back a start looks for a checkpoint that verifies (a newer one may be damaged). */
const LOOKBACK = 20;

/**
 * Verifiers of this gateway's own tokens: its signer's key and its key history (embedded: its
 * JWKS file; aws: `COUNTERSIGN_GATEWAY_PUBLIC_KEYS`, else its KMS key), so heads and receipts
 * signed by a key since rotated away still verify.
 */
export function ownTokenVerifiers(options: {
  readonly config: CountersignConfig;
  readonly signer?: Signer;
  readonly clock: Clock;
  readonly kms?: () => Pick<KMSClient, 'send'>;
}): { checkpoint: CheckpointVerify; receipt: (token: string) => Promise<ReceiptClaims> } {
  const { config, clock } = options;
  const history = partyKeys(config, 'gateway', {
    clock,
    ...(options.kms ? { kms: options.kms } : {}),
  });
  const keys = combineKeys(
    ...(options.signer ? [staticKeys({ keys: [options.signer.publicJwk] })] : []),
    ...(history ? [history] : []),
  );
  const base = { keys, issuers: [config.gateway.id], audience: null, clock } as const;
  const checkpoints = createVerifier({ ...base, typ: TokenTypes.CHECKPOINT });
  const receipts = createVerifier({ ...base, typ: TokenTypes.RECEIPT });
  return {
    checkpoint: async (token) => (await checkpoints.verify(token)).claims,
    receipt: async (token) => (await receipts.verify(token)).claims,
  };
}

/** The newest checkpoint of a stream that verifies, looking back a few entries. */
export async function newestVerifiedCheckpoint(
  store: CheckpointStore,
  stream: string,
  verify: CheckpointVerify,
  logger: Logger,
): Promise<CheckpointClaims | undefined> {
  for (const stored of await store.recent(stream, LOOKBACK)) {
    try {
      const claims = await verify(stored.token);
      if (claims.stream === stream && claims.index === stored.index) return claims;
      logger.error({ stream, index: stored.index }, 'stored checkpoint names another place');
    } catch (err) {
      // Damaged or forged: audit reports it; the start compares against an older one.
      logger.error({ err, stream, index: stored.index }, 'stored checkpoint does not verify');
    }
  }
  return undefined;
}

/** Streams to look at: the configured partitions and every stream with a checkpoint. */
export async function gatewayStreams(
  gatewayId: string,
  partitions: number,
  store: CheckpointStore,
): Promise<string[]> {
  const out = new Set<string>();
  for (let p = 0; p < partitions; p += 1) out.add(streamOf(gatewayId, p));
  for (const s of await store.streams()) if (gatewayOf(s) === gatewayId) out.add(s);
  return [...out].sort();
}

export interface StreamHeadState {
  readonly stream: string;
  readonly head: ChainHead;
  readonly checkpoint: CheckpointClaims | undefined;
}

/** What disagrees between a head and the newest checkpoint, or undefined when they agree. */
export function headDisagreement(s: StreamHeadState): string | undefined {
  const cp = s.checkpoint;
  if (!cp) return undefined;
  if (s.head.seq < cp.seq) {
    return `the chain head of ${s.stream} is at seq ${s.head.seq} but its newest signed checkpoint (#${cp.index}, ${new Date(cp.iat * 1000).toISOString()}) is at seq ${cp.seq}`;
  }
  if (s.head.seq === cp.seq && s.head.hash !== cp.head) {
    return `the chain head of ${s.stream} at seq ${cp.seq} is not the receipt its newest signed checkpoint (#${cp.index}) names`;
  }
  return undefined;
}

/**
 * How far before the newest checkpoint the start reads the archive: receipts after it were
 * published around or after its signing (a clock stepped back further hides them from the check).
 */
export const ARCHIVE_LOOKBACK_MS = 60_000;

/** The newest verified receipt the archive holds for a stream at or past its head. */
export interface ArchivedHead {
  readonly seq: number;
  /** The receipt at the stored head's seq differs from the head (another receipt). */
  readonly otherAtHead: boolean;
}

/**
 * Per stream, the archive's newest verified receipt at or past the stored head, read from
 * ARCHIVE_LOOKBACK_MS before the oldest of the streams' newest checkpoints (from the start
 * without any).
 */
export async function archivedHeads(
  states: readonly StreamHeadState[],
  archive: Pick<EventArchive, 'read'>,
  verifyReceipt: (token: string) => Promise<ReceiptClaims>,
): Promise<Map<string, ArchivedHead>> {
  const heads = new Map(states.map((s) => [s.stream, s.head]));
  // A stream without a checkpoint has at most the few receipts before a crash (the interval
  // checkpoints the rest), which came after the others' checkpoints; none at all: read it all.
  const times = states.flatMap((s) => (s.checkpoint ? [s.checkpoint.iat * 1000] : []));
  const from = times.length === 0 ? 0 : Math.max(0, Math.min(...times) - ARCHIVE_LOOKBACK_MS);
  const out = new Map<string, ArchivedHead>();
  for await (const { receipt, stream, seq } of archivedReceipts(archive, from)) {
    const head = heads.get(stream);
    if (!head || seq < head.seq || seq === 0) continue;
    const seen = out.get(stream);
    const other = seq === head.seq && receiptChainHash(receipt) !== head.hash;
    if (seen && seq <= seen.seq && !(other && !seen.otherAtHead)) continue;
    try {
      const claims = await verifyReceipt(receipt);
      if (claims.stream !== stream || claims.seq !== seq) continue;
    } catch {
      continue; // a forged receipt must not stop the gateway
    }
    out.set(stream, {
      seq: Math.max(seq, seen?.seq ?? 0),
      otherAtHead: other || seen?.otherAtHead === true,
    });
  }
  return out;
}

/**
 * The receipt events of an archive from `from` (ms), with the stream and seq their payload names
 * (unverified: the caller verifies before it trusts either). Other events are skipped.
 */
export async function* archivedReceipts(
  archive: Pick<EventArchive, 'read'>,
  from: number,
): AsyncGenerator<{ readonly receipt: string; readonly stream: string; readonly seq: number }> {
  for await (const event of archive.read(from === 0 ? {} : { from })) {
    const detail = ReceiptEventDetail.safeParse(event.detail);
    if (!detail.success) continue;
    const unverified = decodeUnverified(detail.data.receipt);
    const stream = unverified?.stream;
    const seq = unverified?.seq;
    if (typeof stream !== 'string' || typeof seq !== 'number') continue;
    yield { receipt: detail.data.receipt, stream, seq };
  }
}

/** What the archive shows that the stored head missed, or undefined. */
export function archiveDisagreement(
  s: StreamHeadState,
  archived: ArchivedHead | undefined,
): string | undefined {
  if (!archived) return undefined;
  if (archived.seq > s.head.seq) {
    return `the chain head of ${s.stream} is at seq ${s.head.seq} but the archive already holds its signed receipt ${archived.seq}`;
  }
  if (archived.otherAtHead) {
    return `the chain head of ${s.stream} at seq ${s.head.seq} is not the receipt the archive holds at that seq`;
  }
  return undefined;
}

/** Reads each stream's head and newest verified checkpoint. */
export async function readHeadStates(options: {
  readonly gatewayId: string;
  readonly partitions: number;
  readonly nonceStore: Pick<NonceStore, 'head'>;
  readonly checkpoints: CheckpointStore;
  readonly verifyCheckpoint: CheckpointVerify;
  readonly logger: Logger;
}): Promise<StreamHeadState[]> {
  const { checkpoints, logger } = options;
  const streams = await gatewayStreams(options.gatewayId, options.partitions, checkpoints);
  return Promise.all(
    streams.map(async (stream) => ({
      stream,
      head: await options.nonceStore.head(stream),
      checkpoint: await newestVerifiedCheckpoint(
        checkpoints,
        stream,
        options.verifyCheckpoint,
        logger,
      ),
    })),
  );
}

export interface GuardChainHeadsOptions {
  readonly config: CountersignConfig;
  readonly signer: Signer;
  readonly nonceStore: Pick<NonceStore, 'head'>;
  readonly checkpoints: CheckpointStore;
  readonly checkpointer?: Pick<Checkpointer, 'writeNow'>;
  /** The paper exchange exposes `executions()`; other exchanges are not checked. */
  readonly exchange?: object;
  readonly clock: Clock;
  readonly logger: Logger;
  /** For a gateway key history naming KMS keys (aws). */
  readonly kms?: () => Pick<KMSClient, 'send'>;
  /** The local archive (embedded): also compared with the heads, from the newest checkpoint on. */
  readonly archive?: Pick<EventArchive, 'read'>;
}

/**
 * Refuses (CHAIN_HEAD_MISMATCH) when a chain head is behind or beside the newest signed
 * checkpoint, or (with `archive`) behind or beside the archive; checkpoints heads that are ahead
 * of the newest checkpoint. Warns when the paper exchange holds no
 * order while the chain has receipts (see the README: warn, not refuse).
 */
export async function guardChainHeads(options: GuardChainHeadsOptions): Promise<void> {
  const { config, logger } = options;
  const own = ownTokenVerifiers({
    config,
    signer: options.signer,
    clock: options.clock,
    ...(options.kms ? { kms: options.kms } : {}),
  });
  const states = await readHeadStates({
    gatewayId: config.gateway.id,
    partitions: config.gateway.partitions,
    nonceStore: options.nonceStore,
    checkpoints: options.checkpoints,
    verifyCheckpoint: own.checkpoint,
    logger,
  });
  const archived = options.archive
    ? await archivedHeads(states, options.archive, own.receipt)
    : new Map<string, ArchivedHead>();
  const disagreement = (s: StreamHeadState) =>
    headDisagreement(s) ?? archiveDisagreement(s, archived.get(s.stream));
  const problems = states.flatMap((s) => disagreement(s) ?? []);
  if (problems.length > 0) {
    throw new GatewayError(
      'CHAIN_HEAD_MISMATCH',
      `${problems.join('; ')}. The nonce store (${config.mode === 'aws' ? config.nonce.table : embeddedPaths(config.dataDir).nonceDb}) was emptied, replaced or rolled back: starting would sign a second receipt for seqs the archive already holds. ` +
        'Recover with `countersign gateway recover-head` (restores each head from the newest checkpoint and the archive), then start again.',
      { details: { streams: states.filter((s) => disagreement(s)).map((s) => s.stream) } },
    );
  }
  const receipts = states.reduce((n, s) => n + s.head.seq, 0);
  const executions = (options.exchange as { executions?: () => number } | undefined)?.executions;
  if (receipts > 0 && typeof executions === 'function' && executions.call(options.exchange) === 0) {
    logger.warn(
      { receipts },
      'the exchange database holds no order while the receipt chains hold receipts: if it was ' +
        'emptied, run `countersign audit reconcile` to list EXECUTED receipts the exchange lost',
    );
  }
  for (const s of states) {
    if (s.head.seq > (s.checkpoint?.seq ?? 0)) await options.checkpointer?.writeNow(s.head);
  }
}
