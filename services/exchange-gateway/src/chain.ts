// The receipt chain writer: one writer per stream inside this process.
//
// Under a per-stream async mutex: read the head → sign the receipt at head.seq + 1 with
// prev = head.hash → nonceStore.complete(), which stores the receipt AND advances the head
// in one atomic write, conditional on the head being exactly (seq - 1, prev). Another writer
// (process, Lambda container) that advanced the head first makes the write fail with
// CHAIN_CONFLICT: re-read the head and sign again (nothing else is redone). Since the head
// advances only together with the stored receipt, and only from the receipt it was signed on, a
// seq is never handed out twice and a stored receipt always links to the one before it.
//
// With an `ordered` store (SQLite: one process applies its writes in call order), the mutex is
// released as soon as the complete is queued, not committed: the next receipt of the stream is
// signed on top of the pending head, and its complete is queued behind. If a queued complete
// fails, every receipt signed on top of it fails with CHAIN_CONFLICT (its `prev` is not the
// stored head, whatever another writer stored meanwhile) and is signed again; none of them was
// published, so no seq is lost or doubled.
//
// The head cache: the last head this process signed on top of, tagged with an epoch (one epoch
// per read from the store). When a write fails, the cached head is dropped if it belongs to the
// same epoch (it is that receipt, or one signed on top of it), so the retry reads the store
// instead of signing on a head that can never be stored.
//
// Receipt batching (issue #20, `receiptBatching`): every receipt is a batch item, whose chain
// hash is the digest of its claims, known before any signature. So the stream's mutex covers
// only building the claims; the receipts of a stream that gather while a signature is in flight
// are signed under one head (batch-signer.ts). The completes of a stream are still issued in seq
// order (each waits its turn: queued behind the previous one for an ordered store, landed for
// an unordered one), so the head store sees exactly the sequence it sees without batching.
import { batchItemDigest, receiptBatchHeadClaims, TokenTypes } from '@countersign/contracts';
import type { Clock, ReceiptClaims } from '@countersign/contracts';
import type { ChainHead, NonceStore, StoredReceipt } from '@countersign/replay-guard';
import { createBatchSigner, signJwt } from '@countersign/signing';
import type { BatchSigner, BatchSignerMetrics, Signer } from '@countersign/signing';
import { GatewayError, hasCode } from './errors.ts';
import { silentLogger, type Logger } from './ports.ts';
import { buildReceiptClaims, newReceiptId, sha256B64u, type ReceiptDraft } from './receipts.ts';
import { retrying, type RetryOptions } from './retry.ts';

export interface ChainWriterOptions {
  readonly gatewayId: string;
  readonly nonceStore: NonceStore;
  readonly signer: Signer;
  readonly clock: Clock;
  /** Owner id used in claims (completes are checked against it). */
  readonly owner: string;
  /** Retries of the receipt signature (KMS throttling); signing has no side effect. */
  readonly signRetry?: RetryOptions;
  /** How many CHAIN_CONFLICTs in a row before giving up. Default 20. */
  readonly maxConflicts?: number;
  /** Conflicts are expected with several writers: logged at debug. */
  readonly logger?: Logger;
  /** Sign a stream's receipts in flight together under one Merkle head. Default: per receipt. */
  readonly receiptBatching?: { readonly maxBatchSize?: number };
}

export interface AppendInput {
  /** Nonce store key this receipt completes (`iss#jti`, `msg#<id>` or `res#<receipt jti>`). */
  readonly key: string;
  readonly stream: string;
  readonly draft: ReceiptDraft;
  /** The request token that travels beside the receipt (null when it is not kept). */
  readonly request: string | null;
  /** Keep the nonce record until then (epoch ms). */
  readonly expiresAt: number;
}

export interface Appended {
  readonly stored: StoredReceipt;
  readonly claims: ReceiptClaims;
  readonly head: ChainHead;
}

export interface ChainWriter {
  append(input: AppendInput): Promise<Appended>;
  /** Signatures and batches so far, when receipt batching is on. */
  batchMetrics?(): BatchSignerMetrics;
}

/** A FIFO async mutex per key. */
export function createKeyedMutex(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<void>>();
  return async (key, fn) => {
    const before = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before.then(() => mine);
    tails.set(key, tail);
    await before;
    try {
      return await fn();
    } finally {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

export function createChainWriter(options: ChainWriterOptions): ChainWriter {
  const { nonceStore, signer, clock, gatewayId, owner } = options;
  const maxConflicts = options.maxConflicts ?? 20;
  const logger = options.logger ?? silentLogger;
  const withStream = createKeyedMutex();
  // Heads this process signed on last; a stale one only costs a CHAIN_CONFLICT and a re-read.
  const heads = new Map<string, { readonly head: ChainHead; readonly epoch: number }>();
  let epochs = 0;
  const batching = options.receiptBatching
    ? createBatchSigner<ReceiptClaims>({
        signer,
        typ: TokenTypes.RECEIPT,
        groupOf: (c) => c.stream,
        loneAsItem: true,
        maxBatchSize: options.receiptBatching.maxBatchSize,
        retry: (sign) => retrying(sign, clock, options.signRetry),
        headClaims: (items, tree) => {
          // Items queued on a head that was dropped (a failed write) may sit beside their
          // re-signed successors: not one run of seqs, so all of them sign again.
          try {
            return receiptBatchHeadClaims(items, { iat: Math.floor(clock.now() / 1000), ...tree });
          } catch (cause) {
            throw new GatewayError('CHAIN_CONFLICT', 'receipts of a batch are not one run', {
              cause,
            });
          }
        },
      })
    : undefined;
  // Per stream: resolves when the last queued append may issue its complete (batching only).
  const turns = new Map<string, Promise<void>>();

  /** The next receipt's claims on the stream's (cached) head. */
  async function nextClaims(
    input: AppendInput,
  ): Promise<{ epoch: number; head: ChainHead; claims: ReceiptClaims }> {
    const cached = heads.get(input.stream);
    const epoch = cached?.epoch ?? ++epochs;
    const head = cached?.head ?? (await nonceStore.head(input.stream));
    // The receipt commits to whether the request travels beside it (audit binds the event to it).
    const draft =
      input.request === null
        ? { ...input.draft, req: { ...input.draft.req, kept: false as const } }
        : input.draft;
    const claims = buildReceiptClaims(draft, {
      gatewayId,
      iat: Math.floor(clock.now() / 1000),
      jti: newReceiptId(),
      stream: input.stream,
      seq: head.seq + 1,
      prev: head.hash,
    });
    return { epoch, head, claims };
  }

  /** Stores the signed receipt and advances the head from `head` to `next`, in one write. */
  function complete(input: AppendInput, receipt: string, head: ChainHead, next: ChainHead) {
    const stored: StoredReceipt = {
      receipt,
      request: input.request,
      messageId: input.draft.messageId,
    };
    const written = nonceStore.complete(input.key, {
      owner,
      stored,
      head: next,
      prev: head.hash,
      expiresAt: input.expiresAt,
    });
    return { stored, next, written };
  }

  function forget(stream: string, epoch: number): void {
    if (heads.get(stream)?.epoch === epoch) heads.delete(stream);
  }

  /**
   * Batching: claims under the stream's mutex (the head advances by their digest at once),
   * signature with whatever else gathered, complete in the stream's seq order.
   */
  async function batchAndQueue(
    input: AppendInput,
    signer: BatchSigner<ReceiptClaims>,
  ): Promise<{ appended: Appended; written: Promise<void> }> {
    const { epoch, head, claims, token, turn, done } = await withStream(input.stream, async () => {
      const next = await nextClaims(input);
      heads.set(input.stream, {
        head: { stream: input.stream, seq: next.claims.seq, hash: batchItemDigest(next.claims) },
        epoch: next.epoch,
      });
      const before = turns.get(input.stream) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => (release = resolve));
      turns.set(input.stream, mine);
      return { ...next, token: signer.sign(next.claims), turn: before, done: release };
    });
    let receipt: string;
    try {
      receipt = await token;
    } catch (err) {
      forget(input.stream, epoch);
      await turn;
      done();
      throw err;
    }
    await turn;
    const { stored, next, written } = complete(input, receipt, head, {
      stream: input.stream,
      seq: claims.seq,
      hash: batchItemDigest(claims),
    });
    written.catch(() => forget(input.stream, epoch));
    // An ordered store applies writes in call order: the next may be issued now.
    if (nonceStore.ordered) done();
    else void written.catch(() => undefined).then(done);
    return { appended: { stored, claims, head: next }, written };
  }

  /** Signs at the stream's head and queues the complete; resolves when it is queued. */
  async function signAndQueue(
    input: AppendInput,
  ): Promise<{ appended: Appended; written: Promise<void> }> {
    const { epoch, head, claims } = await nextClaims(input);
    const receipt = await retrying(
      () => signJwt(signer, claims, { typ: TokenTypes.RECEIPT }),
      clock,
      options.signRetry,
    );
    const { stored, next, written } = complete(input, receipt, head, {
      stream: input.stream,
      seq: claims.seq,
      hash: sha256B64u(receipt),
    });
    heads.set(input.stream, { head: next, epoch });
    // Unknown state (e.g. a timeout after the write landed), or a conflict: forget the cached
    // head if it is this one or was signed on top of it; one of a newer epoch was read since.
    written.catch(() => forget(input.stream, epoch));
    return { appended: { stored, claims, head: next }, written };
  }

  return {
    async append(input) {
      for (let conflicts = 0; ; conflicts += 1) {
        let attempt: { appended: Appended; written: Promise<void> };
        if (batching) {
          try {
            attempt = await batchAndQueue(input, batching);
          } catch (err) {
            if (!hasCode(err, 'CHAIN_CONFLICT') || conflicts >= maxConflicts) throw err;
            continue;
          }
        } else if (nonceStore.ordered) {
          attempt = await withStream(input.stream, () => signAndQueue(input));
        } else {
          // Unordered store: hold the stream until the write has landed.
          attempt = await withStream(input.stream, async () => {
            const a = await signAndQueue(input);
            await a.written.catch(() => undefined);
            return a;
          });
        }
        try {
          await attempt.written;
          return attempt.appended;
        } catch (err) {
          if (!hasCode(err, 'CHAIN_CONFLICT') || conflicts >= maxConflicts) throw err;
          logger.debug(
            { stream: input.stream, seq: attempt.appended.claims.seq, conflicts: conflicts + 1 },
            'chain conflict: signing again on the stored head',
          );
        }
      }
    },
    ...(batching ? { batchMetrics: () => batching.metrics() } : {}),
  };
}
