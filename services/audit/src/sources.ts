// Where receipt events come from: the embedded archive (replay) and cursor (live), the SQS audit
// queue fed by the EventBridge rule (live), and an EventBridge archive replay into that queue.
// Each source feeds an Auditor; acknowledgement (commit / delete) happens only after the event
// was audited and the audit state was persisted.
import {
  DescribeArchiveCommand,
  DescribeEventBusCommand,
  DescribeReplayCommand,
  StartReplayCommand,
  type EventBridgeClient,
} from '@aws-sdk/client-eventbridge';
import type { ArchivedEvent, EventArchive, Queue, ReceivedMessage } from '@countersign/transport';
import { parseEventBridgeEnvelope } from '@countersign/transport';
import { EVENT_DETAIL_TYPE, EVENT_SOURCE, type Clock } from '@countersign/contracts';
import type { Auditor, IngestResult } from './auditor.ts';
import { AuditError } from './errors.ts';
import type { RememberedStream } from './ports.ts';
import { mergeMemory, type AuditStateStore } from './state-file.ts';

export type ProgressListener = (audited: number) => void;

/**
 * The retention the EventBridge archive declares (s), or undefined when it keeps everything (0
 * days) or cannot say: a full replay then proves every stream from where it was first proven.
 */
export async function eventBridgeArchiveRetentionSec(
  client: Pick<EventBridgeClient, 'send'>,
  archiveArn: string,
): Promise<number | undefined> {
  const name = archiveArn.slice(archiveArn.lastIndexOf('/') + 1);
  try {
    const days = (await client.send(new DescribeArchiveCommand({ ArchiveName: name })))
      .RetentionDays;
    return days !== undefined && days > 0 ? days * 86_400 : undefined;
  } catch {
    return undefined; // stricter: no waiver for a head the archive may have expired
  }
}

/** Called when saving the state failed and will be retried (e.g. ENOSPC). */
export type StateErrorListener = (err: unknown, attempt: number, retryInMs: number) => void;

export interface StateSaving {
  readonly state: AuditStateStore;
  /** What was loaded at start: kept for streams and checkpoints this run does not touch. */
  readonly base: ReadonlyMap<string, RememberedStream>;
  readonly onError?: StateErrorListener;
  /** Waits between attempts (tests inject one). Default: a timer that the signal cancels. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const abortableSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Saves until it succeeds, backing off (0.1 s doubling to 30 s) and reporting each failure: a
 * full disk stalls the live audit, it does not end it. Returns false when stopped first (the
 * batch is then not acknowledged, and is audited again on the next start).
 */
export async function saveWithRetry(
  saving: StateSaving,
  heads: ReadonlyMap<string, RememberedStream>,
  signal: AbortSignal,
  attemptsAfterAbort = 1,
): Promise<boolean> {
  const sleep = saving.sleep ?? abortableSleep;
  const memory = mergeMemory(saving.base, heads);
  let late = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      await saving.state.save(memory);
      return true;
    } catch (err) {
      if (signal.aborted && ++late >= attemptsAfterAbort) {
        saving.onError?.(err, attempt, 0);
        return false;
      }
      const wait = Math.min(30_000, 100 * 2 ** Math.min(attempt - 1, 9));
      saving.onError?.(err, attempt, wait);
      await sleep(wait, signal);
    }
  }
}

export interface ArchiveReplayOptions {
  readonly archive: EventArchive;
  readonly auditor: Auditor;
  /** Epoch ms, inclusive. */
  readonly from?: number;
  /** Epoch ms, exclusive. */
  readonly to?: number;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

/** Events verified together during a replay. */
const REPLAY_BATCH = 64;
/** Batches in flight: the next one verifies on the thread pool while this one is applied. */
const REPLAY_DEPTH = 2;

/** Streams the embedded archive through the auditor; returns the number of events read. */
export async function replayEmbeddedArchive(options: ArchiveReplayOptions): Promise<number> {
  let n = 0;
  const range = {
    ...(options.from === undefined ? {} : { from: options.from }),
    ...(options.to === undefined ? {} : { to: options.to }),
  };
  // Verified in batches (signatures in parallel on the thread pool), applied in archive order
  // (ingestMany applies overlapping calls in call order).
  let batch: unknown[] = [];
  const inFlight: { readonly done: Promise<unknown>; readonly size: number }[] = [];
  const settleOldest = async () => {
    const oldest = inFlight.shift();
    if (!oldest) return;
    await oldest.done;
    const before = n;
    n += oldest.size;
    if (options.onProgress && Math.floor(n / 1000) > Math.floor(before / 1000))
      options.onProgress(n);
  };
  const flush = async () => {
    options.signal?.throwIfAborted();
    const done = options.auditor.ingestMany(batch);
    done.catch(() => undefined); // awaited in order below; a later failure must not go unhandled
    inFlight.push({ done, size: batch.length });
    batch = [];
    if (inFlight.length >= REPLAY_DEPTH) await settleOldest();
  };
  try {
    for await (const event of options.archive.read(range)) {
      batch.push(event.detail);
      if (batch.length >= REPLAY_BATCH) await flush();
    }
    if (batch.length > 0) await flush();
    while (inFlight.length > 0) await settleOldest();
  } catch (err) {
    // Stopped (aborted, or the auditor could not audit): nothing may still be applying when
    // the caller goes on to finish().
    await Promise.allSettled(inFlight.map((f) => f.done));
    throw err;
  }
  options.onProgress?.(n);
  return n;
}

/**
 * Draining instead of stopping: once the live source's signal aborts, reads are no longer cut
 * short, and the source stops at the first read that comes back empty while nothing is
 * `outstanding`, or `maxMs` after the drain began. For a caller that stopped the producer and
 * wants what it already published (the demo, after its gateway stopped).
 */
export interface LiveDrain {
  readonly maxMs: number;
  readonly clock: Clock;
  /** Events still awaited (e.g. receipts on their way through EventBridge → SQS). Default 0. */
  readonly outstanding?: () => number;
}

/** Told of every event the auditor took, with its result (a live view's counters). */
export type IngestListener = (detail: unknown, result: IngestResult) => void;

/** Whether a draining source has caught up, after a drain read that found `found` events. */
function drainedAfter(drain: LiveDrain): (found: number) => boolean {
  let until: number | undefined;
  return (found) => {
    until ??= drain.clock.now() + drain.maxMs;
    if (drain.clock.now() >= until) return true;
    return found === 0 && (drain.outstanding?.() ?? 0) === 0;
  };
}

export interface EmbeddedLiveOptions {
  readonly archive: EventArchive;
  readonly auditor: Auditor;
  readonly consumer?: string;
  readonly state?: StateSaving;
  readonly signal: AbortSignal;
  /** When set, an aborted signal starts a drain instead of stopping at once. */
  readonly drain?: LiveDrain;
  readonly onIngested?: IngestListener;
  readonly batch?: number;
  readonly waitMs?: number;
}

/** Follows the embedded bus with a durable cursor until the signal aborts (or, draining, until caught up). */
export async function runEmbeddedLive(options: EmbeddedLiveOptions): Promise<number> {
  const { signal, drain } = options;
  const consumer = options.consumer ?? 'audit';
  const drained = drain ? drainedAfter(drain) : undefined;
  let n = 0;
  for (;;) {
    const draining = signal.aborted;
    if (draining && !drained) break;
    let events: ArchivedEvent[];
    try {
      events = await options.archive.poll(consumer, {
        max: options.batch ?? 100,
        waitMs: options.waitMs ?? 1000,
        ...(draining ? {} : { signal }),
      });
    } catch (err) {
      // A read cut short by the abort; while draining, a failed read counts as an empty one.
      if (!signal.aborted) throw err;
      if (!drained) break;
      events = [];
    }
    if (events.length > 0) {
      const details = events.map((e) => e.detail);
      const results = await options.auditor.ingestMany(details);
      if (options.onIngested) details.forEach((d, i) => options.onIngested!(d, results[i]!));
      n += events.length;
      // The cursor moves only past what the saved state covers (else a restart would see a gap).
      if (options.state && !(await saveWithRetry(options.state, options.auditor.heads(), signal))) {
        break;
      }
      await options.archive.commit(consumer, events[events.length - 1]!.id);
    }
    if (draining && drained!(events.length)) break;
  }
  return n;
}

/** Audits one SQS message of the audit queue (an EventBridge event envelope). */
export async function auditQueueMessage(
  auditor: Auditor,
  message: Pick<ReceivedMessage, 'body' | 'messageId'>,
): Promise<{
  replayName: string | undefined;
  /** The event's detail and what the auditor made of it; absent when it was not our event. */
  ingested?: { readonly detail: unknown; readonly result: IngestResult };
}> {
  let envelope;
  try {
    envelope = parseEventBridgeEnvelope(message.body);
  } catch (err) {
    auditor.malformed(
      `queue message ${message.messageId.slice(0, 64)} is not an EventBridge event: ${(err as Error).message}`,
    );
    return { replayName: undefined };
  }
  if (envelope.source !== EVENT_SOURCE || envelope.detailType !== EVENT_DETAIL_TYPE) {
    auditor.malformed(
      `event ${envelope.eventId.slice(0, 64)} has source/detail-type ${String(envelope.source).slice(0, 64)}/${String(envelope.detailType).slice(0, 64)}`,
    );
    return { replayName: envelope.replayName };
  }
  const result = await auditor.ingest(envelope.detail);
  return { replayName: envelope.replayName, ingested: { detail: envelope.detail, result } };
}

export interface SqsLiveOptions {
  readonly queue: Queue;
  readonly auditor: Auditor;
  readonly state?: StateSaving;
  readonly signal: AbortSignal;
  /** When set, an aborted signal starts a drain instead of stopping at once. */
  readonly drain?: LiveDrain;
  readonly onIngested?: IngestListener;
  readonly waitMs?: number;
}

/** Consumes the audit queue until the signal aborts (or, draining, until caught up); deletes each message once audited + saved. */
export async function runSqsLive(options: SqsLiveOptions): Promise<number> {
  const { signal, drain } = options;
  const drained = drain ? drainedAfter(drain) : undefined;
  let n = 0;
  for (;;) {
    const draining = signal.aborted;
    if (draining && !drained) break;
    let messages: ReceivedMessage[];
    try {
      messages = await options.queue.receive({
        max: 10,
        waitMs: options.waitMs ?? 10_000,
        ...(draining ? {} : { signal }),
      });
    } catch (err) {
      if (!signal.aborted) throw err;
      if (!drained) break;
      messages = [];
    }
    if (messages.length > 0) {
      for (const m of messages) {
        const { ingested } = await auditQueueMessage(options.auditor, m);
        if (ingested) options.onIngested?.(ingested.detail, ingested.result);
      }
      if (options.state && !(await saveWithRetry(options.state, options.auditor.heads(), signal))) {
        break; // not acknowledged: the messages come back and are audited again
      }
      // Not with the abort signal: a batch that was audited and saved should be acknowledged.
      await Promise.all(messages.map((m) => options.queue.delete(m.receiptHandle)));
      n += messages.length;
    }
    if (draining && drained!(messages.length)) break;
  }
  return n;
}

export interface EventBridgeReplayOptions {
  readonly client: Pick<EventBridgeClient, 'send'>;
  readonly queue: Queue;
  readonly auditor: Auditor;
  readonly archiveArn: string;
  readonly busName: string;
  /** Epoch ms. */
  readonly from: number;
  readonly to: number;
  readonly replayName: string;
  readonly clock: Clock;
  /** Stop once this many replayed events were audited (e.g. the archive's event count). */
  readonly expected?: number;
  /** Stop after the replay completed and the queue stayed empty this long. Default 5 s. */
  readonly quietMs?: number;
  /** Give up after this long. Default 15 min. */
  readonly timeoutMs?: number;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

/**
 * Replays the EventBridge archive into its bus for [from, to]; the rule delivers the events to
 * the audit queue, which this consumes until the replay completed and the queue is quiet (or
 * `expected` events arrived). Replayed events carry `replay-name`: only ours are audited and
 * deleted; others (live traffic) are released for the live consumer.
 * Real EventBridge replays out of order and at its own pace; moto replays synchronously inside
 * StartReplay, in archive order, ignoring the time range (see README).
 */
export async function replayEventBridgeArchive(options: EventBridgeReplayOptions): Promise<number> {
  const { client, queue, auditor, clock } = options;
  let busArn: string | undefined;
  try {
    busArn = (await client.send(new DescribeEventBusCommand({ Name: options.busName }))).Arn;
    await client.send(
      new StartReplayCommand({
        ReplayName: options.replayName,
        EventSourceArn: options.archiveArn,
        EventStartTime: new Date(options.from),
        EventEndTime: new Date(options.to),
        Destination: { Arn: busArn },
      }),
    );
  } catch (cause) {
    throw new AuditError(
      'REPLAY_FAILED',
      `could not start replay ${options.replayName}: ${(cause as Error).message}`,
      {
        cause,
        details: { replayName: options.replayName },
      },
    );
  }
  const quietMs = options.quietMs ?? 5000;
  const deadline = clock.now() + (options.timeoutMs ?? 15 * 60_000);
  let audited = 0;
  let lastMessageAt = clock.now();
  let state = 'STARTING';
  for (;;) {
    options.signal?.throwIfAborted();
    if (state !== 'COMPLETED') {
      const d = await client.send(new DescribeReplayCommand({ ReplayName: options.replayName }));
      state = d.State ?? 'STARTING';
      if (state === 'FAILED' || state === 'CANCELLED' || state === 'CANCELLING') {
        throw new AuditError(
          'REPLAY_FAILED',
          `replay ${options.replayName} ended ${state}: ${d.StateReason ?? 'no reason given'}`,
          {
            details: { replayName: options.replayName, state },
          },
        );
      }
    }
    if (options.expected !== undefined && audited >= options.expected) break;
    if (state === 'COMPLETED' && clock.now() - lastMessageAt >= quietMs) break;
    if (clock.now() > deadline) {
      throw new AuditError(
        'REPLAY_FAILED',
        `replay ${options.replayName}: gave up waiting after ${audited} events`,
        {
          details: { replayName: options.replayName, audited },
        },
      );
    }
    const messages = await queue.receive({
      max: 10,
      waitMs: Math.min(1000, quietMs),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const ours = messages.filter((m) => peekReplayName(m.body) === options.replayName);
    const foreign = messages.filter((m) => !ours.includes(m));
    for (const m of ours) await auditQueueMessage(auditor, m);
    // Acknowledge the batch together (≤ 10 calls in flight); live traffic or another replay's
    // events are not ours to acknowledge: release them at once.
    await Promise.all([
      ...ours.map((m) => queue.delete(m.receiptHandle)),
      ...foreign.map((m) => queue.changeVisibility(m.receiptHandle, 0)),
    ]);
    audited += ours.length;
    if (ours.length > 0) options.onProgress?.(audited);
    // Quiet counts from the end of the last batch's handling: a slow audit of a batch (a loaded
    // machine) is not a quiet queue.
    if (messages.length > 0) lastMessageAt = clock.now();
  }
  options.onProgress?.(audited);
  return audited;
}

function peekReplayName(body: string): string | undefined {
  try {
    return parseEventBridgeEnvelope(body).replayName;
  } catch {
    return undefined;
  }
}
