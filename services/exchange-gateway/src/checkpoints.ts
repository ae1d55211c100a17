// Signed checkpoints (DESIGN.md §6a): the gateway signs {stream, seq, head, index,
// prevCheckpoint} every `every` receipts of a stream, every `intervalMs` while the stream is
// active, and on graceful stop, and appends it to a store outside the bus. A stream's
// checkpoints form their own hash chain, so audit can tell when the newest receipts were cut
// (tail truncation) and when checkpoints were removed or rolled back.
//
// Only published heads are checkpointed (noteAppended is called after the publish): a
// checkpoint never names a receipt the archive could not have yet.
//
// Several writers (processes, Lambda containers) may checkpoint one stream: the store's append
// is conditional on the index, and the loser re-reads the newest checkpoint and signs again on
// top of it, or stops when that one already covers its head.
import { decodeUnverified } from '@countersign/verifier';
import { CheckpointClaims, nextCheckpointClaims, TokenTypes } from '@countersign/contracts';
import type { Clock } from '@countersign/contracts';
import { GatewayError } from './errors.ts';
import type { ChainHead } from '@countersign/replay-guard';
import { signJwt } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import { createKeyedMutex } from './chain.ts';
import { silentLogger, type CheckpointStore, type Logger } from './ports.ts';

export interface Checkpointer {
  /** Called after each published receipt; signs when `every` receipts or `intervalMs` passed. */
  noteAppended(head: ChainHead): Promise<void>;
  /** Signs a checkpoint of every stream whose head moved since its last checkpoint. */
  flush(): Promise<void>;
  /** Signs a checkpoint of this head now (e.g. at start, covering a tail left by a crash). */
  writeNow(head: ChainHead): Promise<void>;
  /** flush(), then stops the interval timer. */
  close(): Promise<void>;
}

/** Runs `tick` every `ms` until the returned stop function is called. Injected in tests. */
export interface CheckpointTimer {
  every(ms: number, tick: () => void): () => void;
}

/** setInterval, unref'd: the timer never keeps a process alive on its own. */
export const intervalTimer: CheckpointTimer = {
  every(ms, tick) {
    const handle = setInterval(tick, ms);
    handle.unref();
    return () => clearInterval(handle);
  },
};

export interface CheckpointerOptions {
  readonly gatewayId: string;
  readonly signer: Signer;
  readonly store: CheckpointStore;
  /** A checkpoint at least every `every` receipts of a stream. */
  readonly every: number;
  /** And at least every `intervalMs` while the stream's head moves. Default 5000. */
  readonly intervalMs?: number;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly timer?: CheckpointTimer;
}

interface StreamState {
  /** Newest head published by this process. */
  noted?: ChainHead;
  /** Newest checkpoint known in the store (undefined until read). */
  link?: { readonly index: number; readonly token: string; readonly seq: number } | null;
  /** Seq covered by the newest checkpoint, and when this process last wrote one. */
  coveredSeq: number;
  writtenAt: number;
}

/** How many times a writer re-signs after losing an index to another writer. */
const MAX_LOST_RACES = 5;

export function createCheckpointer(options: CheckpointerOptions): Checkpointer {
  const { store, clock, signer, gatewayId } = options;
  const logger = options.logger ?? silentLogger;
  const intervalMs = options.intervalMs ?? 5000;
  const timer = options.timer ?? intervalTimer;
  const streams = new Map<string, StreamState>();
  const withStream = createKeyedMutex();
  let stopTimer: (() => void) | undefined;
  let closed = false;

  const state = (stream: string): StreamState => {
    let s = streams.get(stream);
    if (!s) {
      s = { coveredSeq: 0, writtenAt: clock.now() };
      streams.set(stream, s);
    }
    return s;
  };

  /** The newest checkpoint in the store (our own store: read, not verified). */
  async function readLink(stream: string): Promise<StreamState['link']> {
    const [newest] = await store.recent(stream, 1);
    if (!newest) return null;
    const parsed = CheckpointClaims.safeParse(decodeUnverified(newest.token));
    // An unreadable newest entry still gets chained onto (audit reports it); its seq is unknown.
    return { index: newest.index, token: newest.token, seq: parsed.success ? parsed.data.seq : 0 };
  }

  async function write(head: ChainHead): Promise<void> {
    const s = state(head.stream);
    for (let lost = 0; ; lost += 1) {
      if (s.link === undefined) s.link = await readLink(head.stream);
      const link = s.link;
      if (link && link.seq >= head.seq) {
        // Another writer (or an earlier call) already covers this head: never move backwards.
        s.coveredSeq = Math.max(s.coveredSeq, link.seq);
        return;
      }
      const claims = nextCheckpointClaims(link ?? undefined, head, {
        iss: gatewayId,
        iat: Math.floor(clock.now() / 1000),
      });
      const token = await signJwt(signer, claims, { typ: TokenTypes.CHECKPOINT });
      if (await store.append(head.stream, { index: claims.index, token })) {
        s.link = { index: claims.index, token, seq: head.seq };
        s.coveredSeq = head.seq;
        s.writtenAt = clock.now();
        return;
      }
      s.link = undefined; // another writer took this index: read its checkpoint and go on top
      if (lost >= MAX_LOST_RACES) {
        throw new GatewayError(
          'CHAIN_CONFLICT',
          `checkpoint index ${claims.index} of ${head.stream} lost ${lost + 1} races`,
          { details: { stream: head.stream, index: claims.index, races: lost + 1 } },
        );
      }
    }
  }

  // A failed checkpoint must not fail the message: the next one covers it.
  const safeWrite = (head: ChainHead): Promise<void> =>
    withStream(head.stream, () => write(head)).catch((err: unknown) => {
      logger.warn({ err, stream: head.stream, seq: head.seq }, 'checkpoint not written');
    });

  /** Streams whose newest published head is not covered yet. */
  const moved = (): ChainHead[] =>
    [...streams.values()].flatMap((s) => (s.noted && s.noted.seq > s.coveredSeq ? [s.noted] : []));

  const tick = () => {
    for (const head of moved()) void safeWrite(head);
  };

  return {
    async noteAppended(head) {
      const s = state(head.stream);
      if (!s.noted || s.noted.seq < head.seq) s.noted = head;
      if (!stopTimer && !closed) stopTimer = timer.every(intervalMs, tick);
      // Besides the timer: a Lambda container is frozen between invocations, so activity
      // itself also triggers the time-based checkpoint.
      if (head.seq - s.coveredSeq >= options.every || clock.now() - s.writtenAt >= intervalMs) {
        await safeWrite(head);
      }
    },
    async flush() {
      await Promise.all(moved().map(safeWrite));
    },
    async writeNow(head) {
      const s = state(head.stream);
      if (!s.noted || s.noted.seq < head.seq) s.noted = head;
      await safeWrite(head);
    },
    async close() {
      closed = true;
      stopTimer?.();
      stopTimer = undefined;
      await Promise.all(moved().map(safeWrite));
    },
  };
}
