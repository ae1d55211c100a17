// The embedded queue: SQS FIFO semantics on one SQLite file (WAL), shared by several processes.
//
// - visibility timeout: a received message is invisible until `visible_at`; not deleted in time,
//   it comes back with receiveCount + 1 and a new receipt handle (the old one is then stale);
// - DLQ: the delivery numbered `maxReceives` is the last one; a message whose next delivery would
//   exceed it moves to the DLQ table instead (like an SQS redrive policy);
// - FIFO per group: while a group's oldest message is in flight it delivers nothing of that group
//   (its later messages wait behind it, visible or not); one receive may return several messages
//   of a free group, in send order (like SQS FIFO). SQS also holds a group while a later message
//   of it is in flight; here an oldest message that is visible again is delivered even then (it
//   still comes before everything after it);
// - dedup: a send whose dedupId was sent in the last 5 minutes is accepted and dropped, and
//   answers the first message's id;
// - every write (send, receive, delete, changeVisibility) goes through group commit: the writes of
//   one event-loop turn share one BEGIN IMMEDIATE transaction (each in its own savepoint), so two
//   processes never get the same delivery and a resolved call is committed;
// - each delivery records its receiver (one per queue instance); `recoverAbandoned` makes the
//   in-flight deliveries of every other receiver visible at once. Only sound when those receivers
//   are known to be dead (the caller holds the data directory's role lock); the receive count
//   still counts the abandoned delivery, so the DLQ and last-receive rules stay as they were;
// - redrive moves dead letters back (all, or by message id) in one write transaction: each is
//   appended behind everything queued now, as a new message with the same id, body, group and
//   dedup id and receive count 0 (like an SQS move task, which sends them again). So it comes
//   after later messages of its group already queued; a gateway's takeover reconciles a
//   redriven request with the exchange before it could place it again. Redrive does not touch
//   the dedup log (the first send's entry still covers its dedup id);
// - message ids are UUIDv7 (time-ordered, 74 random bits per millisecond); receipt handles start
//   with the row's seq, so delete and changeVisibility find the row by primary key. Neither needs
//   an index of its own, so a send writes one row, two index entries at the end of their range
//   and one dedup log row (no random-key writes).
import { randomBytes, randomFillSync, randomUUID } from 'node:crypto';
import { TraceContext, errorCodeOf, systemClock } from '@countersign/contracts';
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
import {
  addColumnIfMissing,
  createGroupCommit,
  describeSqliteFailure,
  openSqlite,
} from '@countersign/sqlite';
import type { SqliteSynchronous } from '@countersign/sqlite';

/** SQS FIFO deduplication interval. */
export const DEDUP_WINDOW_MS = 5 * 60 * 1000;
const MAX_VISIBILITY_SEC = 12 * 60 * 60;
/** Messages per sendBatch transaction the requester aims for (any size is accepted). */
const SQLITE_SEND_BATCH = 500;
/** Rows the receive fast path looks at before it falls back to the group-head index walk. */
const OLDEST_SCAN_ROWS = 256;
/** Up to this many groups, a receive walks the group heads first. */
const FEW_GROUPS = 32;

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
  /** How long a write waits for another process's lock before failing (retryable). Default 5000. */
  readonly busyTimeoutMs?: number;
  /** Rows a receive walks in send order before it walks the group heads instead. Default 256. */
  readonly receiveScanRows?: number;
  /** Who this instance receives as (recorded with each delivery). Default: a random id. */
  readonly receiver?: string;
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

export interface RedriveResult {
  /** The dead letters moved back, in the order they were queued again. */
  readonly moved: readonly DeadLetterMessage[];
  /** Requested message ids that were not in the DLQ (never there, or already moved). */
  readonly notFound: readonly string[];
}

export interface QueueDepth {
  readonly visible: number;
  readonly inFlight: number;
  readonly dlq: number;
}

export interface SqliteQueue extends Queue {
  /** The receiver id this instance records with its deliveries. */
  readonly receiver: string;
  /**
   * Makes every delivery in flight for another receiver than `exceptReceiver` (default: this
   * instance) visible now; returns how many. Call it only while holding the role lock that
   * proves those receivers dead: a live one would see its message delivered twice.
   */
  recoverAbandoned(exceptReceiver?: string): Promise<number>;
  /** Peeks at the DLQ, oldest first (read-only). */
  dlq(options?: { readonly limit?: number }): DeadLetterMessage[];
  /**
   * Moves dead letters back to the queue (every one, or those of `messageIds`), oldest first,
   * in one transaction; safe while other processes send and receive.
   */
  redrive(options?: { readonly messageIds?: readonly string[] }): Promise<RedriveResult>;
  depth(): QueueDepth;
  close(): Promise<void>;
}

interface DedupLogRow {
  id: number;
  dedup_id: string;
  message_id: string;
  expires_at: number;
}

interface MessageRow {
  seq: number;
  message_id: string;
  body: string;
  group_id: string;
  dedup_id: string;
  sent_at: number;
  receive_count: number;
  trace: string | null;
}

/** What a receive decides on (read from an index); the body is read only for delivered rows. */
interface CandidateRow {
  seq: number;
  group_id: string;
  visible_at: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS queue_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  message_id TEXT NOT NULL,
  body TEXT NOT NULL,
  group_id TEXT NOT NULL,
  dedup_id TEXT NOT NULL,
  sent_at INTEGER NOT NULL,
  visible_at INTEGER NOT NULL,
  receive_count INTEGER NOT NULL DEFAULT 0,
  receipt_handle TEXT,
  receiver TEXT
);
-- Both indexes cover what a receive decides on (group, visibility), so it never reads a body
-- it does not deliver. (They replace the narrower indexes of older files.)
DROP INDEX IF EXISTS queue_messages_queue_seq;
DROP INDEX IF EXISTS queue_messages_group_seq;
CREATE INDEX IF NOT EXISTS queue_messages_order ON queue_messages (queue, seq, group_id, visible_at);
CREATE INDEX IF NOT EXISTS queue_messages_group_head
  ON queue_messages (queue, group_id, seq, visible_at);
CREATE TABLE IF NOT EXISTS queue_dedup_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  dedup_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
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

// Random bits for message ids, drawn from the CSPRNG 4 KiB at a time.
const idPool = Buffer.alloc(4096);
let idPoolAt = idPool.length;

/** A UUIDv7 (RFC 9562): 48-bit epoch ms, version 7, variant 10, then 74 random bits. */
export function uuidV7(nowMs: number): string {
  if (idPoolAt + 10 > idPool.length) {
    randomFillSync(idPool);
    idPoolAt = 0;
  }
  const r = idPool.subarray(idPoolAt, (idPoolAt += 10));
  const ts = Math.max(0, Math.floor(nowMs)).toString(16).padStart(12, '0').slice(-12);
  const hex = r.toString('hex'); // 20 hex digits; digits 3 and 4 are not used below
  const variant = (0x8 | ((r[2]! >> 4) & 0x3)).toString(16); // from digit 4: no bit used twice
  return `${ts.slice(0, 8)}-${ts.slice(8)}-7${hex.slice(0, 3)}-${variant}${hex.slice(5, 8)}-${hex.slice(8, 20)}`;
}

/** The row a receipt handle names (`<seq>.<receiveCount>.<random>`); -1 (no row) if malformed. */
function seqOf(receiptHandle: string): number {
  const n = Number(receiptHandle.slice(0, receiptHandle.indexOf('.')));
  return Number.isSafeInteger(n) && n > 0 ? n : -1;
}

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
  const scanRows = positiveInt('receiveScanRows', options.receiveScanRows ?? OLDEST_SCAN_ROWS);
  const receiver = options.receiver ?? randomUUID();
  const db = openSqlite(options.path, {
    ...options,
    setup: (d) => {
      d.exec(SCHEMA);
      addColumnIfMissing(d, 'queue_messages', 'receiver', 'TEXT'); // files from before recovery
      // W3C trace context as JSON beside the body (null when tracing is off).
      addColumnIfMissing(d, 'queue_messages', 'trace', 'TEXT');
    },
  });

  // Dedup entries are appended to a log (sequential writes) and looked up in memory; see
  // `dedupIndex` below.
  const logAfter = db.prepare<[number, string], DedupLogRow>(
    'SELECT id, dedup_id, message_id, expires_at FROM queue_dedup_log WHERE id > ? AND queue = ? ORDER BY id',
  );
  const appendLog = db.prepare<[string, string, string, number]>(
    'INSERT INTO queue_dedup_log (queue, dedup_id, message_id, expires_at) VALUES (?, ?, ?, ?)',
  );
  const firstLive = db.prepare<[string, number], { id: number }>(
    'SELECT id FROM queue_dedup_log WHERE queue = ? AND expires_at > ? ORDER BY id LIMIT 1',
  );
  const purgeLog = db.prepare<[string, number]>(
    'DELETE FROM queue_dedup_log WHERE queue = ? AND id < ?',
  );
  const purgeAllLog = db.prepare<[string]>('DELETE FROM queue_dedup_log WHERE queue = ?');
  const insertMessage = db.prepare(
    `INSERT INTO queue_messages (queue, message_id, body, group_id, dedup_id, sent_at, visible_at, trace)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // Groups deliver in send order, so a group has something in flight exactly when its oldest
  // message (its head) is in flight. Free groups are those whose head is visible. The recursive
  // part walks the distinct groups of the group index with one seek each (a loose index scan),
  // so the cost follows the number of groups, not the backlog.
  const groupHeads = db.prepare<[{ queue: string }], CandidateRow>(
    `WITH RECURSIVE groups(g) AS (
       SELECT (SELECT min(group_id) FROM queue_messages WHERE queue = @queue)
       UNION ALL
       SELECT (SELECT min(group_id) FROM queue_messages WHERE queue = @queue AND group_id > g)
         FROM groups WHERE g IS NOT NULL
     ), heads(seq, group_id) AS (
       SELECT (SELECT min(seq) FROM queue_messages WHERE queue = @queue AND group_id = g), g
         FROM groups WHERE g IS NOT NULL
     )
     SELECT seq, group_id,
            (SELECT visible_at FROM queue_messages
              WHERE queue = @queue AND group_id = heads.group_id AND seq = heads.seq) AS visible_at
       FROM heads ORDER BY seq`,
  );
  const groupRun = db.prepare<[string, string, number, number], CandidateRow>(
    `SELECT seq, group_id, visible_at
       FROM queue_messages
      WHERE queue = ? AND group_id = ? AND seq >= ?
      ORDER BY seq LIMIT ?`,
  );
  // The oldest messages in send order, in flight or not (the fast path of `deliverable`), as
  // [seq, group_id, visible_at] arrays: the scan may pass hundreds of rows.
  const oldest = db
    .prepare<[string, number], [number, string, number]>(
      `SELECT seq, group_id, visible_at FROM queue_messages WHERE queue = ? ORDER BY seq LIMIT ?`,
    )
    .raw(true);
  const fullRow = db.prepare<[number], MessageRow>(
    `SELECT seq, message_id, body, group_id, dedup_id, sent_at, receive_count, trace
       FROM queue_messages WHERE seq = ?`,
  );
  // Groups seen by the last head walk. With few groups (a handful of accounts, all busy) the
  // walk is cheaper than scanning a backlog that is all blocked, so it goes first.
  let lastGroupCount = Infinity;
  /** Deliverable messages, oldest first, at most `max`, never two groups' order broken. */
  const deliverable = (q: string, now: number, max: number): CandidateRow[] => {
    if (lastGroupCount > FEW_GROUPS) {
      // Fast path: walk the oldest rows in send order. A row in flight blocks its group; a
      // visible row of an unblocked group is that group's next message (every older row of
      // the group was passed: in flight, so blocking, or taken here). Usually the in-flight
      // rows are few, so this stops after a few dozen rows.
      const out: CandidateRow[] = [];
      const blocked = new Set<string>();
      let scanned = 0;
      for (const [seq, groupId, visibleAt] of oldest.iterate(q, scanRows)) {
        scanned += 1;
        if (blocked.has(groupId)) continue;
        if (visibleAt > now) {
          blocked.add(groupId);
          continue;
        }
        out.push({ seq, group_id: groupId, visible_at: visibleAt });
        if (out.length >= max) break; // ends the statement (iterate() resets it on break)
      }
      if (out.length >= max || scanned < scanRows) return out; // or that was the whole queue
    }
    // Group heads through the index (also the slow path: a long blocked group at the front).
    const out: CandidateRow[] = [];
    const heads = groupHeads.all({ queue: q });
    lastGroupCount = heads.length;
    for (const head of heads) {
      if (out.length >= max) break;
      if (head.visible_at > now) continue;
      // Stop at the first message still in flight (its head's visibility was changed early).
      for (const row of groupRun.all(q, head.group_id, head.seq, max - out.length)) {
        if (row.visible_at > now) break;
        out.push(row);
      }
    }
    return out;
  };
  const markDelivered = db.prepare(
    `UPDATE queue_messages
        SET receive_count = receive_count + 1, visible_at = ?, receipt_handle = ?, receiver = ?
      WHERE seq = ?`,
  );
  const recover = db.prepare<[number, string, number, string]>(
    `UPDATE queue_messages SET visible_at = ?
      WHERE queue = ? AND visible_at > ? AND receive_count > 0 AND receiver IS NOT ?`,
  );
  const moveToDlq = db.prepare(
    `INSERT INTO queue_dlq (queue, message_id, body, group_id, dedup_id, sent_at, receive_count, moved_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const deleteBySeq = db.prepare('DELETE FROM queue_messages WHERE seq = ?');
  const deleteByHandle = db.prepare<[number, string, string]>(
    'DELETE FROM queue_messages WHERE seq = ? AND queue = ? AND receipt_handle = ?',
  );
  const setVisibility = db.prepare(
    `UPDATE queue_messages SET visible_at = ?
      WHERE seq = ? AND queue = ? AND receipt_handle = ? AND visible_at > ?`,
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
  const dlqById = db.prepare<[string, string], MessageRow & { moved_at: number }>(
    `SELECT seq, message_id, body, group_id, dedup_id, sent_at, receive_count, moved_at
       FROM queue_dlq WHERE queue = ? AND message_id = ? ORDER BY seq`,
  );
  const deleteDlq = db.prepare<[number]>('DELETE FROM queue_dlq WHERE seq = ?');
  const peekDlq = db.prepare<[string, number], MessageRow & { moved_at: number }>(
    `SELECT seq, message_id, body, group_id, dedup_id, sent_at, receive_count, moved_at
       FROM queue_dlq WHERE queue = ? ORDER BY seq LIMIT ?`,
  );

  // Dedup without a random-key index. A B-tree index on random dedup ids (jtis) dirties one
  // page per send, and writing those pages cost more than the rest of a send together. So:
  // entries are appended to queue_dedup_log (ids ascending, one page per many sends), and each
  // process keeps the live window in a Map. Before every send, inside the write transaction
  // (no other process can write meanwhile), the Map catches up with log rows appended since
  // its last look, its own or another process's; so every process sees every live entry. If
  // a send fails (its rows may have been rolled back) the Map is rebuilt from the log.
  let dedup = new Map<string, { readonly messageId: string; readonly expiresAt: number }>();
  let dedupSeen = 0; // last log id read into `dedup`
  let dedupStale = false;
  const catchUp = (now: number) => {
    if (dedupStale) {
      dedup = new Map();
      dedupSeen = 0;
      dedupStale = false;
    }
    for (const row of logAfter.iterate(dedupSeen, queue)) {
      dedup.delete(row.dedup_id);
      dedup.set(row.dedup_id, { messageId: row.message_id, expiresAt: row.expires_at });
      dedupSeen = row.id;
    }
    // Entries were added in send order, so expired ones are at the front.
    for (const [key, entry] of dedup) {
      if (entry.expiresAt > now) break;
      dedup.delete(key);
    }
  };

  const sendAll = (messages: readonly OutgoingMessage[]): string[] => {
    try {
      const now = clock.now();
      if (++sendsSincePurge >= 100) {
        sendsSincePurge = 0;
        const live = firstLive.get(queue, now);
        if (live) purgeLog.run(queue, live.id);
        else purgeAllLog.run(queue);
      }
      catchUp(now);
      return messages.map((m) => {
        const known = dedup.get(m.dedupId);
        if (known && known.expiresAt > now) return known.messageId;
        const messageId = uuidV7(now);
        const expiresAt = now + DEDUP_WINDOW_MS;
        // We hold the write lock and caught up: our rows follow every row read so far. (If
        // this transaction does not commit, dedupStale makes the next send rebuild the Map.)
        dedupSeen = Number(appendLog.run(queue, m.dedupId, messageId, expiresAt).lastInsertRowid);
        dedup.delete(m.dedupId); // re-insert at the end: the Map stays in expiry order
        dedup.set(m.dedupId, { messageId, expiresAt });
        const trace = m.trace ? JSON.stringify(m.trace) : null;
        insertMessage.run(queue, messageId, m.body, m.groupId, m.dedupId, now, now, trace);
        return messageId;
      });
    } catch (err) {
      dedupStale = true;
      throw err;
    }
  };

  const receiveSome = (max: number): ReceivedMessage[] => {
    const now = clock.now();
    const out: ReceivedMessage[] = [];
    // Loop because DLQ moves free places (and may unblock the next message of a group).
    for (;;) {
      const rows = deliverable(queue, now, max - out.length);
      if (rows.length === 0) return out;
      let moved = 0;
      for (const candidate of rows) {
        const row = fullRow.get(candidate.seq)!; // read in this transaction: still there
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
        const receiptHandle = `${row.seq}.${receiveCount}.${randomBytes(9).toString('base64url')}`;
        markDelivered.run(now + visibilityMs, receiptHandle, receiver, row.seq);
        out.push({
          messageId: row.message_id,
          body: row.body,
          groupId: row.group_id,
          receiveCount,
          receiptHandle,
          sentAt: row.sent_at,
          ...storedTrace(row.trace),
        });
      }
      if (moved === 0 || out.length >= max) return out;
    }
  };

  /** In the write transaction: the chosen DLQ rows become queued messages again. */
  const redriveRows = (messageIds: readonly string[] | undefined): RedriveResult => {
    const now = clock.now();
    const notFound: string[] = [];
    let rows: (MessageRow & { moved_at: number })[];
    if (messageIds === undefined)
      rows = peekDlq.all(queue, -1); // LIMIT -1: every row
    else {
      rows = [];
      for (const id of new Set(messageIds)) {
        const found = dlqById.all(queue, id);
        if (found.length === 0) notFound.push(id);
        rows.push(...found);
      }
      rows.sort((a, b) => a.seq - b.seq); // oldest dead letter first, whatever order was asked
    }
    for (const r of rows) {
      insertMessage.run(queue, r.message_id, r.body, r.group_id, r.dedup_id, r.sent_at, now, null);
      deleteDlq.run(r.seq);
    }
    return { moved: rows.map(deadLetterOf), notFound };
  };

  let sendsSincePurge = 0;
  let closed = false;
  const assertOpen = () => {
    if (closed) throw queueError('the queue is closed', { queue });
  };

  const failed = (what: string, err: unknown) => {
    const f = describeSqliteFailure(`${what} on the embedded queue`, options.path, err);
    return queueError(f.message, { queue, ...f.details }, err);
  };
  /** Reads, now. */
  const run = <T>(what: string, fn: () => T): T => {
    assertOpen();
    try {
      return fn();
    } catch (err) {
      throw failed(what, err);
    }
  };
  const group = createGroupCommit(db);
  /** The transaction a send was in did not commit: its log rows are gone, rebuild the Map. */
  const sendFailed = (err: unknown): never => {
    dedupStale = true;
    throw err;
  };
  /** Writes, in the next group transaction. */
  const write = <T>(what: string, fn: () => T): Promise<T> => {
    if (closed) return Promise.reject(queueError('the queue is closed', { queue }));
    return group.run(fn).catch((err: unknown) => {
      throw errorCodeOf(err) === 'QUEUE_FAILED' ? err : failed(what, err);
    });
  };

  return {
    maxReceives,
    maxBatchSize: SQLITE_SEND_BATCH,
    receiver,

    async recoverAbandoned(exceptReceiver = receiver) {
      const recovered = await write('recoverAbandoned', () => {
        const now = clock.now();
        return recover.run(now, queue, now, exceptReceiver).changes;
      });
      if (recovered > 0) notifyLocal(wakeup);
      return recovered;
    },

    async send(message, signal) {
      signal?.throwIfAborted();
      const [messageId] = await write('send', () => sendAll([message])).catch(sendFailed);
      notifyLocal(wakeup);
      return { messageId: messageId! };
    },

    async sendBatch(messages, signal) {
      signal?.throwIfAborted();
      if (messages.length === 0) return [];
      // All or nothing (one savepoint): either every entry is stored or the call throws.
      const ids = await write('sendBatch', () => sendAll(messages)).catch(sendFailed);
      notifyLocal(wakeup);
      return ids.map((messageId): SendResult => ({ ok: true, messageId }));
    },

    async receive(opts: ReceiveOptions) {
      const max = Math.min(10, Math.max(1, Math.floor(opts.max)));
      let waited = 0;
      for (;;) {
        if (opts.signal?.aborted) return [];
        const got = await write('receive', () => receiveSome(max));
        if (got.length > 0 || waited >= opts.waitMs) return got;
        const step = Math.min(pollIntervalMs, opts.waitMs - waited);
        if (!(await waitLocal(wakeup, step, opts.signal))) return [];
        // Counted as a full step even when woken early: the poll may end a little sooner,
        // which a caller cannot tell from an empty long poll (no wall clock read here).
        waited += step;
      }
    },

    async delete(receiptHandle, signal) {
      signal?.throwIfAborted();
      // A stale handle (the message was redelivered since) matches nothing: like SQS, the call
      // succeeds and the newer delivery stays.
      // A delete frees the next message of its FIFO group: wake local receivers.
      const seq = seqOf(receiptHandle);
      if ((await write('delete', () => deleteByHandle.run(seq, queue, receiptHandle))).changes > 0)
        notifyLocal(wakeup);
    },

    async changeVisibility(receiptHandle, timeoutSec, signal) {
      signal?.throwIfAborted();
      if (!Number.isFinite(timeoutSec) || timeoutSec < 0 || timeoutSec > MAX_VISIBILITY_SEC) {
        throw queueError('visibility timeout must be between 0 and 43200 seconds', { queue });
      }
      const changed = await write('changeVisibility', () => {
        const now = clock.now();
        const seq = seqOf(receiptHandle);
        return setVisibility.run(
          now + Math.round(timeoutSec * 1000),
          seq,
          queue,
          receiptHandle,
          now,
        ).changes;
      });
      if (changed === 0) {
        // Like SQS MessageNotInflight: the visibility ran out or the handle is stale, so this
        // consumer no longer owns the message.
        throw queueError('the message is not in flight for this receipt handle', {
          queue,
          code: 'MessageNotInflight',
          retryable: false,
        });
      }
    },

    dlq(o = {}) {
      const limit = Math.max(1, Math.floor(o.limit ?? 100));
      return run('dlq', () => peekDlq.all(queue, limit).map(deadLetterOf));
    },

    async redrive(o = {}) {
      const result = await write('redrive', () => redriveRows(o.messageIds));
      if (result.moved.length > 0) notifyLocal(wakeup);
      return result;
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
        group.close(); // commits the writes already accepted, then closes the file
      }
      return Promise.resolve();
    },
  };
}

function deadLetterOf(r: MessageRow & { moved_at: number }): DeadLetterMessage {
  return {
    messageId: r.message_id,
    body: r.body,
    groupId: r.group_id,
    dedupId: r.dedup_id,
    receiveCount: r.receive_count,
    sentAt: r.sent_at,
    movedAt: r.moved_at,
  };
}

/** The trace context stored with a message; one that does not parse is dropped (it only links spans). */
function storedTrace(stored: string | null): { trace?: TraceContext } {
  if (stored === null) return {};
  try {
    const parsed = TraceContext.safeParse(JSON.parse(stored));
    return parsed.success ? { trace: parsed.data } : {};
  } catch {
    return {};
  }
}
