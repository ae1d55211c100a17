// The SQS adapter of the Queue port. FIFO queues get MessageGroupId (the account) and
// MessageDeduplicationId (the jti); standard queues get neither. Every SDK call takes the
// caller's AbortSignal, and every SDK error leaves this module as QUEUE_FAILED with
// { code, retryable, requestId }. Message attributes carry only W3C trace context (it links
// spans; the token is the truth).
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type {
  MessageAttributeValue,
  SendMessageBatchRequestEntry,
  SendMessageBatchResult,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { OutgoingMessage, Queue, ReceivedMessage, SendResult } from './ports.ts';
import { describeSdkError, isAbortError, queueError } from './errors.ts';
import { sleep } from './retry.ts';
import { TraceContext, backoffDelayMs, errorCodeOf } from '@countersign/contracts';

export interface SqsQueueOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  /** The queue's redrive maxReceiveCount (the last receive has this receiveCount). */
  readonly maxReceives: number;
  /** Default: true when the URL ends in `.fifo`. */
  readonly fifo?: boolean;
  /** Attempts per batch entry, first send included. Default 5. */
  readonly maxAttempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

const SQS_BATCH = 10;
const MAX_WAIT_SECONDS = 20;

export function createSqsQueue(options: SqsQueueOptions): Queue {
  const { client, queueUrl } = options;
  const fifo = options.fifo ?? queueUrl.endsWith('.fifo');
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const baseDelayMs = Math.max(1, options.baseDelayMs ?? 50);
  const maxDelayMs = Math.max(baseDelayMs, options.maxDelayMs ?? 2000);

  const fifoFields = (m: OutgoingMessage) => ({
    ...(fifo ? { MessageGroupId: m.groupId, MessageDeduplicationId: m.dedupId } : {}),
    ...traceAttributes(m.trace),
  });

  const failure = (what: string, err: unknown) => {
    const info = describeSdkError(err);
    return queueError(
      `SQS ${what} failed: ${info.code}`,
      { code: info.code, retryable: info.retryable, requestId: info.requestId },
      err,
    );
  };

  /** Sends up to 10 entries, retrying only failed retryable entries; never throws for an entry. */
  async function sendChunk(
    chunk: readonly OutgoingMessage[],
    signal: AbortSignal | undefined,
  ): Promise<SendResult[]> {
    const results: (SendResult | undefined)[] = chunk.map(() => undefined);
    let pending = chunk.map((_, i) => i);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) await sleep(backoffDelayMs(attempt - 1, baseDelayMs, maxDelayMs), signal);
      const last = attempt + 1 >= maxAttempts;
      const entries: SendMessageBatchRequestEntry[] = pending.map((i) => ({
        Id: String(i),
        MessageBody: chunk[i]!.body,
        ...fifoFields(chunk[i]!),
      }));
      let out: SendMessageBatchResult;
      try {
        out = await client.send(
          new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
          {
            abortSignal: signal,
          },
        );
      } catch (err) {
        if (isAbortError(err) || signal?.aborted) throw err;
        const info = describeSdkError(err);
        if (info.retryable && !last) continue;
        for (const i of pending) {
          results[i] = {
            ok: false,
            code: info.code,
            message: info.message,
            retryable: info.retryable,
          };
        }
        break;
      }
      const next: number[] = [];
      for (const ok of out.Successful ?? []) {
        const i = Number(ok.Id);
        if (ok.MessageId && pending.includes(i)) results[i] = { ok: true, messageId: ok.MessageId };
      }
      for (const bad of out.Failed ?? []) {
        const i = Number(bad.Id);
        if (!pending.includes(i)) continue;
        const retryable = bad.SenderFault !== true;
        if (retryable && !last) {
          next.push(i);
        } else {
          results[i] = {
            ok: false,
            code: bad.Code ?? 'UnknownError',
            message: (bad.Message ?? 'the entry failed').slice(0, 300),
            retryable,
          };
        }
      }
      // An entry neither in Successful nor in Failed is not known to be sent: send it again
      // (FIFO dedup makes that safe).
      for (const i of pending) {
        if (results[i] === undefined && !next.includes(i)) {
          if (last) {
            results[i] = {
              ok: false,
              code: 'MissingResult',
              message: 'SQS answered nothing for this entry',
              retryable: true,
            };
          } else next.push(i);
        }
      }
      pending = next;
    }
    return results.map(
      (r) =>
        r ?? { ok: false, code: 'NotSent', message: 'the entry was not sent', retryable: true },
    );
  }

  return {
    maxReceives: options.maxReceives,
    maxBatchSize: SQS_BATCH,

    async send(message, signal) {
      try {
        const out = await client.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: message.body,
            ...fifoFields(message),
          }),
          { abortSignal: signal },
        );
        if (!out.MessageId) throw queueError('SQS SendMessage answered without a MessageId');
        return { messageId: out.MessageId };
      } catch (err) {
        if (errorCodeOf(err) === 'QUEUE_FAILED') throw err;
        throw failure('SendMessage', err);
      }
    },

    async sendBatch(messages, signal) {
      const results: SendResult[] = [];
      for (let i = 0; i < messages.length; i += SQS_BATCH) {
        try {
          results.push(...(await sendChunk(messages.slice(i, i + SQS_BATCH), signal)));
        } catch (err) {
          throw failure('SendMessageBatch', err);
        }
      }
      return results;
    },

    async receive(opts) {
      if (opts.signal?.aborted) return [];
      let out;
      try {
        out = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(SQS_BATCH, Math.max(1, Math.floor(opts.max))),
            WaitTimeSeconds: Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.ceil(opts.waitMs / 1000))),
            MessageSystemAttributeNames: [
              'ApproximateReceiveCount',
              'SentTimestamp',
              'MessageGroupId',
            ],
            MessageAttributeNames: [...TRACE_ATTRIBUTES],
          }),
          { abortSignal: opts.signal },
        );
      } catch (err) {
        // Aborting a long poll is how a consumer stops: not an error.
        if (opts.signal?.aborted) return [];
        throw failure('ReceiveMessage', err);
      }
      return (out.Messages ?? []).flatMap((m): ReceivedMessage[] => {
        if (!m.MessageId || m.ReceiptHandle === undefined) return [];
        const attrs = m.Attributes ?? {};
        return [
          {
            messageId: m.MessageId,
            body: m.Body ?? '',
            groupId: attrs.MessageGroupId,
            receiveCount: Number(attrs.ApproximateReceiveCount ?? '1') || 1,
            receiptHandle: m.ReceiptHandle,
            sentAt: Number(attrs.SentTimestamp ?? '0') || 0,
            ...traceOf(m.MessageAttributes),
          },
        ];
      });
    },

    async delete(receiptHandle, signal) {
      try {
        await client.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw failure('DeleteMessage', err);
      }
    },

    async changeVisibility(receiptHandle, timeoutSec, signal) {
      try {
        await client.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queueUrl,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: Math.round(timeoutSec),
          }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw failure('ChangeMessageVisibility', err);
      }
    },
  };
}

/** The message attributes W3C trace context travels in (beside the token, never inside it). */
const TRACE_ATTRIBUTES = ['traceparent', 'tracestate'] as const;

function traceAttributes(trace: TraceContext | undefined): {
  MessageAttributes?: Record<string, MessageAttributeValue>;
} {
  if (!trace) return {};
  const attributes: Record<string, MessageAttributeValue> = {
    traceparent: { DataType: 'String', StringValue: trace.traceparent },
  };
  if (trace.tracestate) {
    attributes.tracestate = { DataType: 'String', StringValue: trace.tracestate };
  }
  return { MessageAttributes: attributes };
}

/** Trace context of a received message; a malformed one is dropped (it only links spans). */
export function traceOf(attributes: Record<string, MessageAttributeValue> | undefined): {
  trace?: TraceContext;
} {
  const parsed = TraceContext.safeParse({
    traceparent: attributes?.traceparent?.StringValue,
    ...(attributes?.tracestate?.StringValue
      ? { tracestate: attributes.tracestate.StringValue }
      : {}),
  });
  return parsed.success ? { trace: parsed.data } : {};
}
