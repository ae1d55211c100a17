// The FIFO group runner shared by the long-running worker and the Lambda handler (DESIGN.md §6):
// messages of one group (one account) run one after another in receive order; when one does not
// finish (it throws, or the pipeline leaves it), the rest of its group in the batch is not run,
// so the queue redelivers them in order; other groups go on. A "leave" result's suggested
// visibility is applied here, for both runtimes (an UNKNOWN's reconcile delay, a lease's rest).
//
// The rest of a stopped group is made visible again at once (visibility 0), not left invisible
// for the queue's visibility timeout: the queue (SQS FIFO, the embedded queue) delivers nothing
// of a group while its earlier message is in flight, so they come back right behind the stopped
// message (its reconcile delay, its lease's rest), in order, instead of after their own timeout.
// A skipped message on its last receive cannot come back to run (the queue moves it to its DLQ
// next), so it is handed to `blocked` first, which answers it.
import { errorCodeOf } from '@countersign/contracts';
import type { Queue, ReceivedMessage } from '@countersign/transport';
import type { ProcessResult } from './pipeline.ts';
import type { Logger } from './ports.ts';

export type Settled =
  | { readonly kind: 'done'; readonly result: ProcessResult & { readonly action: 'delete' } }
  | { readonly kind: 'left'; readonly result: ProcessResult & { readonly action: 'leave' } }
  | { readonly kind: 'failed'; readonly err: unknown };

export interface FifoGroupOptions {
  readonly process: (message: ReceivedMessage) => Promise<ProcessResult>;
  /** A message not run because an earlier one of its group stopped (absent: nothing to do). */
  readonly blocked?: (message: ReceivedMessage) => Promise<void>;
  /** Bounds messages in flight across groups (a p-limit function). */
  readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;
  /**
   * Where a left message's suggested visibility is set, and the rest of its group is made
   * visible again (absent: neither).
   */
  readonly queue?: Pick<Queue, 'changeVisibility'>;
  readonly logger: Logger;
  /** After each message that ran (its visibility already set when it was left). */
  readonly onSettled?: (message: ReceivedMessage, settled: Settled) => void;
  /** The rest of a group that stopped: not run (called before they are made visible again). */
  readonly onSkipped?: (rest: readonly ReceivedMessage[]) => void;
}

export interface FifoGroupRun {
  /** Messages whose receipt is stored and published (safe to delete). */
  readonly done: readonly ReceivedMessage[];
  /** Everything else: left, failed or skipped (in batch order). */
  readonly notDone: readonly ReceivedMessage[];
}

/** A message without a group is a group of its own. */
function groupsOf(messages: readonly ReceivedMessage[]): ReceivedMessage[][] {
  const groups = new Map<string, ReceivedMessage[]>();
  for (const m of messages) {
    const id = m.groupId ?? `\u0000${m.messageId}`;
    const list = groups.get(id);
    if (list) list.push(m);
    else groups.set(id, [m]);
  }
  return [...groups.values()];
}

export async function runFifoGroups(
  messages: readonly ReceivedMessage[],
  options: FifoGroupOptions,
): Promise<FifoGroupRun> {
  const { logger } = options;
  const done = new Set<ReceivedMessage>();

  const setVisibility = async (message: ReceivedMessage, sec: number) => {
    await options.queue
      ?.changeVisibility(message.receiptHandle, sec)
      .catch((err: unknown) =>
        logger.warn({ messageId: message.messageId, err }, 'changeVisibility failed'),
      );
  };

  async function settle(message: ReceivedMessage): Promise<Settled> {
    try {
      const result = await options.process(message);
      if (result.action === 'delete') return { kind: 'done', result };
      if (result.visibilitySec !== undefined) await setVisibility(message, result.visibilitySec);
      return { kind: 'left', result };
    } catch (err) {
      logFailure(logger, message, err);
      return { kind: 'failed', err };
    }
  }

  /** The rest of a stopped group: answered if it cannot run again, then visible again. */
  async function release(stopped: ReceivedMessage, rest: readonly ReceivedMessage[]) {
    await Promise.all(
      rest.map(async (message) => {
        if (options.blocked) {
          const blocked = options.blocked;
          await options
            .limit(() => blocked(message))
            .catch((err: unknown) =>
              logger.error({ messageId: message.messageId, err }, 'blocked message not answered'),
            );
        }
        await setVisibility(message, 0);
      }),
    );
    logger.debug(
      { messageId: stopped.messageId, groupId: stopped.groupId, released: rest.length },
      'rest of the group made visible again behind it',
    );
  }

  await Promise.all(
    groupsOf(messages).map(async (list) => {
      for (let i = 0; i < list.length; i += 1) {
        const message = list[i]!;
        const settled = await options.limit(() => settle(message));
        options.onSettled?.(message, settled);
        if (settled.kind !== 'done') {
          const rest = list.slice(i + 1);
          if (rest.length > 0) {
            options.onSkipped?.(rest);
            await release(message, rest);
          }
          return;
        }
        done.add(message);
      }
    }),
  );
  return {
    done: messages.filter((m) => done.has(m)),
    notDone: messages.filter((m) => !done.has(m)),
  };
}

/**
 * A failed message. Conflicts between writers (CHAIN_CONFLICT after its retries, NONCE_CONFLICT:
 * another gateway took the lease over) are expected and handled (the queue redelivers): logged
 * without a stack trace. Anything else is an error with its stack.
 */
function logFailure(logger: Logger, message: ReceivedMessage, err: unknown): void {
  const at = { messageId: message.messageId, receiveCount: message.receiveCount };
  const code = errorCodeOf(err);
  if (code === 'CHAIN_CONFLICT' || code === 'NONCE_CONFLICT') {
    const text = err instanceof Error ? err.message : String(err);
    logger.info(
      { ...at, code, reason: text },
      'message given back after a conflict with another writer',
    );
    return;
  }
  logger.error({ ...at, err }, 'message failed');
}
