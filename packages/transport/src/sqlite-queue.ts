// The embedded queue: SQS FIFO semantics on one SQLite file (WAL), shared by several processes.
//
// - visibility timeout: a received message is invisible until `visible_at`; not deleted in time,
//   it comes back with receiveCount + 1 and a new receipt handle (the old one is then stale);
// - DLQ: the delivery numbered `maxReceives` is the last one; a message whose next delivery would
//   exceed it moves to the DLQ table instead (like an SQS redrive policy);
// - FIFO per group: while a group has a message in flight it delivers nothing else; one receive
//   may return several messages of a free group, in send order (like SQS FIFO);
// - dedup: a send whose dedupId was sent in the last 5 minutes is accepted and dropped, and
//   answers the first message's id;
// - receive runs in a BEGIN IMMEDIATE transaction, so two processes never get the same delivery.
import { randomBytes, randomUUID } from 'node:crypto';
import { systemClock } from '@countersign/contracts';
import type { Clock } from '@countersign/contracts';
import type {
  OutgoingMessage,
  Queue,
  ReceivedMessage,
  ReceiveOptions,
  SendResult,
} from './ports.ts';
import { queueError } from './errors.ts';
import { notifyLocal, waitLocal, wakeupKey } from './local-wakeup.ts';
import { openSqlite } from './sqlite-db.ts';
import type { SqliteSynchronous } from './sqlite-db.ts';

/** SQS FIFO deduplication interval. */
export const DEDUP_WINDOW_MS = 5 * 60 * 1000;
const MAX_VISIBILITY_SEC = 12 * 60 * 60;

export interface SqliteQueueOptions {
  readonly path: string;
  /** Queue name within the file (several queues may share one file). Default 'requests'. */
  readonly name?: string;
  readonly visibilityTimeoutSec: number;
  readonly maxReceives: number;
  readonly clock?: Clock;
  /** 'FULL' also survives power loss (slower). Default 'NORMAL': survives process crashes. */
  readonly synchronous?: SqliteSynchronous;
  /** Long-poll check interval. Default 50 ms. */
  readonly pollIntervalMs?: number;
}

export interface DeadLetterMessage {
  readonly messageId: string;
  readonly body: string;
  readonly groupId: string;
  readonly dedupId: string;
  readonly receiveCount: number;
  readonly sentAt: number;
  /** Epoch ms it was moved to the DLQ. */
  readonly movedAt: number;
}

export interface QueueDepth {
  readonly visible: number;
  readonly inFlight: number;
  readonly dlq: number;
}

export interface SqliteQueue extends Queue {
  /** Peeks at the DLQ, oldest first (read-only). */
  dlq(options?: { readonly limit?: number }): DeadLetterMessage[];
  depth(): QueueDepth;
  close(): Promise<void>;
}

interface MessageRow {
  seq: number;
  message_id: string;
  body: string;
  group_id: string;
  dedup_id: string;
  sent_at: number;
  receive_count: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS queue_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  message_id TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL,
  group_id TEXT NOT NULL,
  dedup_id TEXT NOT NULL,
  sent_at INTEGER NOT NULL,
  visible_at INTEGER NOT NULL,
  receive_count INTEGER NOT NULL DEFAULT 0,
  receipt_handle TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS queue_messages_queue_seq ON queue_messages (queue, seq);
CREATE INDEX IF NOT EXISTS queue_messages_group ON queue_messages (queue, group_id, visible_at);
CREATE INDEX IF NOT EXISTS queue_messages_group_seq ON queue_messages (queue, group_id, seq);
CREATE TABLE IF NOT EXISTS queue_dedup (
  queue TEXT NOT NULL,
  dedup_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (queue, dedup_id)
);
CREATE INDEX IF NOT EXISTS queue_dedup_expiry ON queue_dedup (queue, expires_at);
CREATE TABLE IF NOT EXISTS queue_dlq (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  message_id TEXT NOT NULL,
  body TEXT NOT NULL,
  group_id TEXT NOT NULL,
  dedup_id TEXT NOT NULL,
  sent_at INTEGER NOT NULL,
  receive_count INTEGER NOT NULL,
  moved_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_dlq_queue ON queue_dlq (queue, seq);
`;

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw queueError(`${name} must be a positive integer`, { option: name });
  }
  return value;
}

export function createSqliteQueue(options: SqliteQueueOptions): SqliteQueue {
  const queue = options.name ?? 'requests';
  const wakeup = wakeupKey(options.path, `queue:${queue}`);
  const clock = options.clock ?? systemClock;
  const maxReceives = positiveInt('maxReceives', options.maxReceives);
  const visibilityMs = positiveInt('visibilityTimeoutSec', options.visibilityTimeoutSec) * 1000;
  const pollIntervalMs = Math.max(1, options.pollIntervalMs ?? 50);
  const db = openSqlite(options.path, { synchronous: options.synchronous });
  db.exec(SCHEMA);

  const findDedup = db.prepare<[string, string, number], { message_id: string }>(
    'SELECT message_id FROM queue_dedup WHERE queue = ? AND dedup_id = ? AND expires_at > ?',
  );
  const putDedup = db.prepare(
    `INSERT INTO queue_dedup (queue, dedup_id, message_id, expires_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (queue, dedup_id) DO UPDATE SET message_id = excluded.message_id,
       expires_at = excluded.expires_at`,
  );
  const purgeDedup = db.prepare('DELETE FROM queue_dedup WHERE queue = ? AND expires_at <= ?');
  const insertMessage = db.prepare(
    `INSERT INTO queue_messages (queue, message_id, body, group_id, dedup_id, sent_at, visible_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  // Groups deliver in send order, so a group has something in flight exactly when its oldest
  // message (its head) is in flight. Free groups are those whose head is visible: one pass over
  // the (queue, group_id, seq) index instead of a per-message NOT EXISTS over the backlog.
  const freeHeads = db.prepare<[string, number, number], MessageRow>(
    `SELECT m.seq, m.message_id, m.body, m.group_id, m.dedup_id, m.sent_at, m.receive_count
       FROM queue_messages m
      WHERE m.seq IN (SELECT min(seq) FROM queue_messages WHERE queue = ? GROUP BY group_id)
        AND m.visible_at <= ?
      ORDER BY m.seq LIMIT ?`,
  );
  const groupRun = db.prepare<
    [string, string, number, number],
    MessageRow & { visible_at: number }
  >(
    `SELECT seq, message_id, body, group_id, dedup_id, sent_at, receive_count, visible_at
       FROM queue_messages
      WHERE queue = ? AND group_id = ? AND seq >= ?
      ORDER BY seq LIMIT ?`,
  );
  /** Oldest free groups first; from each, its messages in order, up to `max` in all. */
  const candidates = {
    all(q: string, now: number, max: number): MessageRow[] {
      const out: MessageRow[] = [];
      for (const head of freeHeads.all(q, now, max)) {
        if (out.length >= max) break;
        // Stop at the first message still in flight (its head's visibility was changed early).
        for (const row of groupRun.all(q, head.group_id, head.seq, max - out.length)) {
          if (row.visible_at > now) break;
          out.push(row);
        }
      }
      return out;
    },
  };
  const markDelivered = db.prepare(
    `UPDATE queue_messages SET receive_count = receive_count + 1, visible_at = ?, receipt_handle = ?
      WHERE seq = ?`,
  );
  const moveToDlq = db.prepare(
    `INSERT INTO queue_dlq (queue, message_id, body, group_id, dedup_id, sent_at, receive_count, moved_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const deleteBySeq = db.prepare('DELETE FROM queue_messages WHERE seq = ?');
  const deleteByHandle = db.prepare(
    'DELETE FROM queue_messages WHERE queue = ? AND receipt_handle = ?',
  );
  const setVisibility = db.prepare(
    `UPDATE queue_messages SET visible_at = ?
      WHERE queue = ? AND receipt_handle = ? AND visible_at > ?`,
  );
  const countVisible = db.prepare<[string, number], { n: number }>(
    'SELECT count(*) AS n FROM queue_messages WHERE queue = ? AND visible_at <= ?',
  );
  const countInFlight = db.prepare<[string, number], { n: number }>(
    'SELECT count(*) AS n FROM queue_messages WHERE queue = ? AND visible_at > ?',
  );
  const countDlq = db.prepare<[string], { n: number }>(
    'SELECT count(*) AS n FROM queue_dlq WHERE queue = ?',
  );
  const peekDlq = db.prepare<[string, number], MessageRow & { moved_at: number }>(
    `SELECT seq, message_id, body, group_id, dedup_id, sent_at, receive_count, moved_at
       FROM queue_dlq WHERE queue = ? ORDER BY seq LIMIT ?`,
  );

  let sendsSincePurge = 0;
  let closed = false;

  const sendOne = (message: OutgoingMessage, now: number): string => {
    const existing = findDedup.get(queue, message.dedupId, now);
    if (existing) return existing.message_id;
    const messageId = randomUUID();
    insertMessage.run(queue, messageId, message.body, message.groupId, message.dedupId, now, now);
    putDedup.run(queue, message.dedupId, messageId, now + DEDUP_WINDOW_MS);
    return messageId;
  };

  const sendTx = db.transaction((messages: readonly OutgoingMessage[]): string[] => {
    const now = clock.now();
    if (++sendsSincePurge >= 100) {
      sendsSincePurge = 0;
      purgeDedup.run(queue, now);
    }
    return messages.map((m) => sendOne(m, now));
  });

  const receiveTx = db.transaction((max: number): ReceivedMessage[] => {
    const now = clock.now();
    const out: ReceivedMessage[] = [];
    // Loop because DLQ moves free places (and may unblock the next message of a group).
    for (;;) {
      const rows = candidates.all(queue, now, max - out.length);
      if (rows.length === 0) return out;
      let moved = 0;
      for (const row of rows) {
        if (row.receive_count + 1 > maxReceives) {
          moveToDlq.run(
            queue,
            row.message_id,
            row.body,
            row.group_id,
            row.dedup_id,
            row.sent_at,
            row.receive_count,
            now,
          );
          deleteBySeq.run(row.seq);
          moved++;
          continue;
        }
        const receiveCount = row.receive_count + 1;
        const receiptHandle = `${row.message_id}.${receiveCount}.${randomBytes(9).toString('base64url')}`;
        markDelivered.run(now + visibilityMs, receiptHandle, row.seq);
        out.push({
          messageId: row.message_id,
          body: row.body,
          groupId: row.group_id,
          receiveCount,
          receiptHandle,
          sentAt: row.sent_at,
        });
      }
      if (moved === 0 || out.length >= max) return out;
    }
  });

  const assertOpen = () => {
    if (closed) throw queueError('the queue is closed', { queue });
  };

  const run = <T>(what: string, fn: () => T): T => {
    assertOpen();
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw queueError(
        `${what} failed on the embedded queue`,
        {
          queue,
          code: typeof code === 'string' ? code : 'SQLITE_ERROR',
          retryable: code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED',
        },
        err,
      );
    }
  };

  return {
    maxReceives,

    send(message, signal) {
      signal?.throwIfAborted();
      const [messageId] = run('send', () => sendTx.immediate([message]));
      notifyLocal(wakeup);
      return Promise.resolve({ messageId: messageId! });
    },

    sendBatch(messages, signal) {
      signal?.throwIfAborted();
      if (messages.length === 0) return Promise.resolve([]);
      // All or nothing in one transaction: either every entry is stored or the call throws.
      const ids = run('sendBatch', () => sendTx.immediate(messages));
      notifyLocal(wakeup);
      return Promise.resolve(ids.map((messageId): SendResult => ({ ok: true, messageId })));
    },

    async receive(opts: ReceiveOptions) {
      const max = Math.min(10, Math.max(1, Math.floor(opts.max)));
      let waited = 0;
      for (;;) {
        if (opts.signal?.aborted) return [];
        const got = run('receive', () => receiveTx.immediate(max));
        if (got.length > 0 || waited >= opts.waitMs) return got;
        const step = Math.min(pollIntervalMs, opts.waitMs - waited);
        const started = Date.now();
        if (!(await waitLocal(wakeup, step, opts.signal))) return [];
        waited += Math.max(1, Date.now() - started);
      }
    },

    delete(receiptHandle, signal) {
      signal?.throwIfAborted();
      // A stale handle (the message was redelivered since) matches nothing: like SQS, the call
      // succeeds and the newer delivery stays.
      // A delete frees the next message of its FIFO group: wake local receivers.
      if (run('delete', () => deleteByHandle.run(queue, receiptHandle)).changes > 0)
        notifyLocal(wakeup);
      return Promise.resolve();
    },

    changeVisibility(receiptHandle, timeoutSec, signal) {
      signal?.throwIfAborted();
      if (!Number.isFinite(timeoutSec) || timeoutSec < 0 || timeoutSec > MAX_VISIBILITY_SEC) {
        return Promise.reject(
          queueError('visibility timeout must be between 0 and 43200 seconds', { queue }),
        );
      }
      const changed = run('changeVisibility', () => {
        const now = clock.now();
        return setVisibility.run(now + Math.round(timeoutSec * 1000), queue, receiptHandle, now)
          .changes;
      });
      if (changed === 0) {
        // Like SQS MessageNotInflight: the visibility ran out or the handle is stale, so this
        // consumer no longer owns the message.
        return Promise.reject(
          queueError('the message is not in flight for this receipt handle', {
            queue,
            code: 'MessageNotInflight',
            retryable: false,
          }),
        );
      }
      return Promise.resolve();
    },

    dlq(o = {}) {
      const limit = Math.max(1, Math.floor(o.limit ?? 100));
      return run('dlq', () =>
        peekDlq.all(queue, limit).map((r) => ({
          messageId: r.message_id,
          body: r.body,
          groupId: r.group_id,
          dedupId: r.dedup_id,
          receiveCount: r.receive_count,
          sentAt: r.sent_at,
          movedAt: r.moved_at,
        })),
      );
    },

    depth() {
      return run('depth', () => {
        const now = clock.now();
        return {
          visible: countVisible.get(queue, now)?.n ?? 0,
          inFlight: countInFlight.get(queue, now)?.n ?? 0,
          dlq: countDlq.get(queue)?.n ?? 0,
        };
      });
    },

    close() {
      if (!closed) {
        closed = true;
        db.close();
      }
      return Promise.resolve();
    },
  };
}
