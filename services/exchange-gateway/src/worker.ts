// The long-running worker: long-polls the queue and runs the pipeline with bounded concurrency.
//
// - FIFO: the group runner shared with the Lambda handler (fifo-groups.ts): messages of one group
//   run in receive order; when one fails (throws or is left), the rest of that group in the batch
//   is not run and made visible again at once, so the queue redelivers them in order right
//   behind it; other groups go on.
// - A message is deleted only when the pipeline says so (its receipt is stored and published);
//   the next message of its group does not wait for that delete.
// - Verification of a whole batch starts on receipt (processor.prefetch), in parallel.
// - Heartbeat: while a message is being handled its visibility is extended.
// - stop() (or the `signal`) aborts the long poll, waits for in-flight messages, then returns.
import pLimit from 'p-limit';
import type { Outcome } from '@countersign/contracts';
import type { Queue, ReceivedMessage } from '@countersign/transport';
import { runFifoGroups, type Settled } from './fifo-groups.ts';
import type { Processor } from './pipeline.ts';
import { silentLogger, type Logger } from './ports.ts';

export interface WorkerOptions {
  readonly queue: Queue;
  readonly processor: Pick<Processor, 'process' | 'reconcileUnknown'> &
    Partial<Pick<Processor, 'prefetch' | 'blocked'>>;
  /** Messages handled at the same time (across groups). */
  readonly concurrency: number;
  /** Messages per receive, at most 10. Default 10. */
  readonly batchSize?: number;
  /** Long-poll wait. Default 20 s. */
  readonly waitMs?: number;
  readonly visibilityTimeoutSec: number;
  /** Extend visibility while a message runs: true (every visibilityTimeout/3), an interval, or false. */
  readonly heartbeat?: boolean | { readonly intervalMs: number };
  /** Reconciliation pass over UNKNOWN receipts. Default every 5 s; 0 disables. */
  readonly reconcileIntervalMs?: number;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

export interface WorkerCounters {
  received: number;
  deleted: number;
  /** Left for a later delivery (in progress elsewhere, UNKNOWN, poison, failure). */
  left: number;
  failed: number;
  /**
   * Not processed because an earlier message of their group failed in the same batch (made
   * visible again at once, behind it).
   */
  skipped: number;
  republished: number;
  heartbeats: number;
  receiveErrors: number;
  deleteErrors: number;
  reconciled: number;
  outcomes: Record<Outcome, number>;
}

export interface Worker {
  /** Runs until stop() or the signal; resolves when in-flight messages are done. */
  run(): Promise<void>;
  stop(): Promise<void>;
  counters(): Readonly<WorkerCounters>;
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err instanceof Error && err.name === 'AbortError');
}

const newCounters = (): WorkerCounters => ({
  received: 0,
  deleted: 0,
  left: 0,
  failed: 0,
  skipped: 0,
  republished: 0,
  heartbeats: 0,
  receiveErrors: 0,
  deleteErrors: 0,
  reconciled: 0,
  outcomes: { EXECUTED: 0, REJECTED: 0, FAILED: 0, UNKNOWN: 0 },
});

function heartbeatIntervalMs(options: WorkerOptions): number {
  if (options.heartbeat === false) return 0;
  if (typeof options.heartbeat === 'object') return options.heartbeat.intervalMs;
  return Math.max(1000, Math.floor((options.visibilityTimeoutSec * 1000) / 3));
}

/**
 * Extends the visibility of every message still in `outstanding` every `intervalMs` (a message
 * waiting behind the earlier ones of its group must not become visible again meanwhile).
 * Returns the function that stops it.
 */
function startHeartbeat(
  queue: Queue,
  outstanding: ReadonlyMap<string, ReceivedMessage>,
  intervalMs: number,
  visibilitySec: number,
  onBeat: () => void,
  logger: Logger,
): () => void {
  if (intervalMs <= 0) return () => undefined;
  const timer = setInterval(() => {
    for (const m of outstanding.values()) {
      onBeat();
      queue
        .changeVisibility(m.receiptHandle, visibilitySec)
        .catch((err: unknown) => logger.warn({ messageId: m.messageId, err }, 'heartbeat failed'));
    }
  }, intervalMs);
  return () => clearInterval(timer);
}

export function createWorker(options: WorkerOptions): Worker {
  const { queue, processor } = options;
  const logger = options.logger ?? silentLogger;
  const batchSize = Math.min(10, Math.max(1, options.batchSize ?? 10));
  const waitMs = options.waitMs ?? 20_000;
  const heartbeatMs = heartbeatIntervalMs(options);
  const reconcileMs = options.reconcileIntervalMs ?? 5000;
  const limit = pLimit(Math.max(1, options.concurrency));
  const stopper = new AbortController();
  const onExternalAbort = () => stopper.abort();
  options.signal?.addEventListener('abort', onExternalAbort, { once: true });
  if (options.signal?.aborted) stopper.abort();

  const counters = newCounters();
  let busy = 0;
  const deletes = new Set<Promise<void>>();
  let waiters: (() => void)[] = [];
  const notify = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const freed = () => new Promise<void>((r) => waiters.push(r));

  /** Bookkeeping of one message that ran: counters, and the delete when it is done. */
  function settled(message: ReceivedMessage, s: Settled): void {
    if (s.kind === 'done') {
      counters.outcomes[s.result.outcome] += 1;
      if (s.result.republished) counters.republished += 1;
      // The group goes on without waiting: the receipt is stored and published, so whatever
      // happens to this delete, a redelivery only re-publishes it.
      const deleting = queue.delete(message.receiptHandle).then(
        () => void (counters.deleted += 1),
        (err: unknown) => {
          counters.deleteErrors += 1;
          logger.warn({ messageId: message.messageId, err }, 'delete failed');
        },
      );
      deletes.add(deleting);
      void deleting.finally(() => deletes.delete(deleting));
    } else {
      counters.left += 1;
      if (s.kind === 'failed') counters.failed += 1;
    }
  }

  async function handleBatch(messages: readonly ReceivedMessage[]): Promise<void> {
    // Heartbeat for every message of the batch still waiting or running.
    const outstanding = new Map(messages.map((m) => [m.messageId, m]));
    const stopHeartbeat = startHeartbeat(
      queue,
      outstanding,
      heartbeatMs,
      options.visibilityTimeoutSec,
      () => void (counters.heartbeats += 1),
      logger,
    );
    try {
      await runFifoGroups(messages, {
        process: (m) => processor.process(m),
        ...(processor.blocked ? { blocked: (m) => processor.blocked!(m) } : {}),
        limit,
        queue,
        logger,
        onSettled(message, s) {
          settled(message, s);
          outstanding.delete(message.messageId);
          busy -= 1;
          notify();
        },
        onSkipped(rest) {
          // No more heartbeats: they are made visible again and come back in order.
          for (const m of rest) outstanding.delete(m.messageId);
          counters.skipped += rest.length;
          busy -= rest.length;
          notify();
        },
      });
    } finally {
      stopHeartbeat();
    }
  }

  let running: Promise<void> | undefined;
  let reconciling = false;
  const reconcileTick = () => {
    if (reconciling) return;
    reconciling = true;
    processor
      .reconcileUnknown()
      .then((n) => (counters.reconciled += n))
      .catch((err: unknown) => logger.warn({ err }, 'reconciliation pass failed'))
      .finally(() => (reconciling = false));
  };

  async function loop(): Promise<void> {
    const signal = stopper.signal;
    const inflight = new Set<Promise<void>>();
    const stopped = aborted(signal);
    const reconcileTimer = reconcileMs > 0 ? setInterval(reconcileTick, reconcileMs) : undefined;
    try {
      while (!signal.aborted) {
        while (busy >= options.concurrency && !signal.aborted)
          await Promise.race([freed(), stopped]);
        if (signal.aborted) break;
        let messages: ReceivedMessage[];
        try {
          messages = await queue.receive({ max: batchSize, waitMs, signal });
        } catch (err) {
          if (isAbort(err, signal)) break;
          counters.receiveErrors += 1;
          logger.error({ err }, 'receive failed');
          await Promise.race([new Promise((r) => setTimeout(r, 1000)), stopped]);
          continue;
        }
        if (messages.length === 0) continue;
        counters.received += messages.length;
        busy += messages.length;
        try {
          processor.prefetch?.(messages);
        } catch (err) {
          // Only an optimisation: each message is verified when it runs anyway.
          logger.warn({ err }, 'prefetch failed');
        }
        const p = handleBatch(messages).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    } finally {
      if (reconcileTimer) clearInterval(reconcileTimer);
      // Graceful: finish what was received (deletes are not aborted).
      await Promise.allSettled([...inflight]);
      await Promise.allSettled([...deletes]);
      options.signal?.removeEventListener('abort', onExternalAbort);
    }
  }

  return {
    run() {
      running ??= loop();
      return running;
    },
    async stop() {
      stopper.abort();
      await running;
    },
    counters: () => counters,
  };
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
