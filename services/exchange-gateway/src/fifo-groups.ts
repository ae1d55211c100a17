// The FIFO group runner shared by the long-running worker and the Lambda handler (DESIGN.md §6):
// messages of one group (one account) run one after another in receive order; when one does not
// finish (it throws, or the pipeline leaves it), the rest of its group in the batch is not run,
// so the queue redelivers them in order; other groups go on. A "leave" result's suggested
// visibility is applied here, for both runtimes (an UNKNOWN's reconcile delay, a lease's rest).
import type { Queue, ReceivedMessage } from '@countersign/transport';
import type { ProcessResult } from './pipeline.ts';
import type { Logger } from './ports.ts';

export type Settled =
  | { readonly kind: 'done'; readonly result: ProcessResult & { readonly action: 'delete' } }
  | { readonly kind: 'left'; readonly result: ProcessResult & { readonly action: 'leave' } }
  | { readonly kind: 'failed'; readonly err: unknown };

export interface FifoGroupOptions {
  readonly process: (message: ReceivedMessage) => Promise<ProcessResult>;
  /** Bounds messages in flight across groups (a p-limit function). */
  readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Where a left message's suggested visibility is set (absent: not set). */
  readonly queue?: Pick<Queue, 'changeVisibility'>;
  readonly logger: Logger;
  /** After each message that ran (its visibility already set when it was left). */
  readonly onSettled?: (message: ReceivedMessage, settled: Settled) => void;
  /** The rest of a group that stopped: not run, left as they are. */
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

  async function settle(message: ReceivedMessage): Promise<Settled> {
    try {
      const result = await options.process(message);
      if (result.action === 'delete') return { kind: 'done', result };
      if (result.visibilitySec !== undefined && options.queue) {
        await options.queue
          .changeVisibility(message.receiptHandle, result.visibilitySec)
          .catch((err: unknown) =>
            logger.warn({ messageId: message.messageId, err }, 'changeVisibility failed'),
          );
      }
      return { kind: 'left', result };
    } catch (err) {
      logger.error(
        { messageId: message.messageId, receiveCount: message.receiveCount, err },
        'message failed',
      );
      return { kind: 'failed', err };
    }
  }

  await Promise.all(
    groupsOf(messages).map(async (list) => {
      for (let i = 0; i < list.length; i += 1) {
        const message = list[i]!;
        const settled = await options.limit(() => settle(message));
        options.onSettled?.(message, settled);
        if (settled.kind !== 'done') {
          const rest = list.slice(i + 1);
          if (rest.length > 0) options.onSkipped?.(rest);
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
