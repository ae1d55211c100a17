// Signed checkpoints (DESIGN.md §6a): every `every` receipts of a stream, and on graceful stop,
// the gateway signs {stream, seq, head} and stores it outside the bus, so audit can tell when
// the newest receipts of a stream were deleted (tail truncation).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointClaims, TokenTypes, WIRE_VERSION } from '@countersign/contracts';
import type { Clock } from '@countersign/contracts';
import type { ChainHead } from '@countersign/replay-guard';
import { signJwt } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import { silentLogger, type CheckpointStore, type Logger } from './ports.ts';

/** `<dir>/<stream with "/" replaced by "_">.jws`. */
export function checkpointFileName(stream: string): string {
  return `${stream.replaceAll('/', '_')}.jws`;
}

function seqOf(token: string): number {
  const payload = token.split('.')[1] ?? '';
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
    seq?: unknown;
  };
  return typeof claims.seq === 'number' ? claims.seq : -1;
}

/** File adapter: one file per stream, replaced atomically (write to a temp file, then rename). */
export function createFileCheckpointStore(dir: string): CheckpointStore {
  mkdirSync(dir, { recursive: true });
  const read = (stream: string): string | undefined => {
    try {
      return readFileSync(join(dir, checkpointFileName(stream)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  return {
    put(stream, seq, token) {
      const current = read(stream);
      // Never move a checkpoint backwards (two gateway processes share the directory).
      if (current !== undefined && seqOf(current) >= seq) return Promise.resolve();
      const target = join(dir, checkpointFileName(stream));
      const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      writeFileSync(tmp, token, { mode: 0o644 });
      renameSync(tmp, target);
      return Promise.resolve();
    },
    get(stream) {
      return Promise.resolve(read(stream));
    },
  };
}

export interface Checkpointer {
  /** Called after each appended receipt; signs a checkpoint every `every` receipts. */
  noteAppended(head: ChainHead): Promise<void>;
  /** Signs a checkpoint of every stream whose head moved since its last checkpoint. */
  flush(): Promise<void>;
}

export function createCheckpointer(options: {
  readonly gatewayId: string;
  readonly signer: Signer;
  readonly store: CheckpointStore;
  readonly every: number;
  readonly clock: Clock;
  readonly logger?: Logger;
}): Checkpointer {
  const logger = options.logger ?? silentLogger;
  const latest = new Map<string, ChainHead>();
  const written = new Map<string, number>();

  const write = async (head: ChainHead): Promise<void> => {
    const claims = CheckpointClaims.parse({
      v: WIRE_VERSION,
      iss: options.gatewayId,
      iat: Math.floor(options.clock.now() / 1000),
      stream: head.stream,
      seq: head.seq,
      head: head.hash,
    });
    const token = await signJwt(options.signer, claims, { typ: TokenTypes.CHECKPOINT });
    await options.store.put(head.stream, head.seq, token);
    written.set(head.stream, Math.max(head.seq, written.get(head.stream) ?? 0));
  };
  // A failed checkpoint must not fail the message: the next one covers it.
  const safeWrite = async (head: ChainHead) => {
    try {
      await write(head);
    } catch (err) {
      logger.warn({ err, stream: head.stream, seq: head.seq }, 'checkpoint not written');
    }
  };

  return {
    async noteAppended(head) {
      const prev = latest.get(head.stream);
      if (!prev || prev.seq < head.seq) latest.set(head.stream, head);
      if (head.seq % options.every === 0) await safeWrite(head);
    },
    async flush() {
      for (const head of latest.values()) {
        if ((written.get(head.stream) ?? 0) < head.seq) await safeWrite(head);
      }
    },
  };
}
