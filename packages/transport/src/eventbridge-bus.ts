// The EventBridge adapter of the EventBus port. PutEvents takes at most 10 entries (and 256 KB)
// per call and can fail per entry while answering 200: we check FailedEntryCount and every
// entry's ErrorCode, retry ONLY the failed entries with exponential backoff and full jitter, and
// throw BUS_FAILED (saying how many are left) rather than ever dropping one.
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type {
  EventBridgeClient,
  PutEventsRequestEntry,
  PutEventsResponse,
} from '@aws-sdk/client-eventbridge';
import { backoffDelayMs, EVENT_DETAIL_TYPE, EVENT_SOURCE } from '@countersign/contracts';
import type { ReceiptEventDetail } from '@countersign/contracts';
import type { EventBus } from './ports.ts';
import { busError, describeSdkError, isAbortError } from './errors.ts';
import { sleep } from './retry.ts';

/** EventBridge's size limit for one entry and for one PutEvents call (the older regions' value). */
export const MAX_EVENT_ENTRY_BYTES = 256 * 1024;
const MAX_ENTRIES_PER_CALL = 10;

export interface EventBridgeBusOptions {
  readonly client: EventBridgeClient;
  readonly busName: string;
  readonly source?: string;
  readonly detailType?: string;
  /** Calls per entry, first included. Default 8. */
  readonly maxAttempts?: number;
  /** Backoff base (doubles each retry, full jitter). Default 100 ms. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** For tests: the jitter source. */
  readonly random?: () => number;
}

/** Size of a PutEvents entry as EventBridge counts it (UTF-8 bytes of its fields). */
export function eventEntrySize(entry: PutEventsRequestEntry): number {
  let size = entry.Time ? 14 : 0;
  size += Buffer.byteLength(entry.Source ?? '');
  size += Buffer.byteLength(entry.DetailType ?? '');
  size += Buffer.byteLength(entry.Detail ?? '');
  for (const r of entry.Resources ?? []) size += Buffer.byteLength(r);
  return size;
}

export function createEventBridgeBus(options: EventBridgeBusOptions): EventBus {
  const { client, busName } = options;
  const source = options.source ?? EVENT_SOURCE;
  const detailType = options.detailType ?? EVENT_DETAIL_TYPE;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 8);
  const baseDelayMs = Math.max(1, options.baseDelayMs ?? 100);
  const maxDelayMs = Math.max(baseDelayMs, options.maxDelayMs ?? 5000);
  const random = options.random ?? Math.random;

  /** Groups entry indexes into calls of ≤ 10 entries and ≤ 256 KB. */
  const batches = (indexes: readonly number[], sizes: readonly number[]): number[][] => {
    const out: number[][] = [];
    let current: number[] = [];
    let bytes = 0;
    for (const i of indexes) {
      const size = sizes[i]!;
      if (current.length === MAX_ENTRIES_PER_CALL || bytes + size > MAX_EVENT_ENTRY_BYTES) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(i);
      bytes += size;
    }
    if (current.length > 0) out.push(current);
    return out;
  };

  return {
    async publish(events: readonly ReceiptEventDetail[], signal?: AbortSignal) {
      const entries: PutEventsRequestEntry[] = events.map((detail) => ({
        EventBusName: busName,
        Source: source,
        DetailType: detailType,
        Detail: JSON.stringify(detail),
      }));
      const sizes = entries.map(eventEntrySize);
      const tooLarge = sizes.findIndex((s) => s > MAX_EVENT_ENTRY_BYTES);
      if (tooLarge >= 0) {
        // Checked before anything is sent: the caller must shrink the event, a retry can't help.
        throw busError(`event ${tooLarge} is ${sizes[tooLarge]} bytes, over the 256 KB limit`, {
          index: tooLarge,
          bytes: sizes[tooLarge]!,
          retryable: false,
        });
      }

      let pending = entries.map((_, i) => i);
      let lastError: { code: string; requestId: string | null } = {
        code: 'none',
        requestId: null,
      };
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= maxAttempts) {
          throw busError(
            `${pending.length} of ${entries.length} events were not accepted by EventBridge after ${maxAttempts} attempts (last error ${lastError.code})`,
            {
              failed: pending.length,
              total: entries.length,
              code: lastError.code,
              requestId: lastError.requestId,
              retryable: true,
            },
          );
        }
        if (attempt > 0) {
          try {
            await sleep(backoffDelayMs(attempt - 1, baseDelayMs, maxDelayMs, random), signal);
          } catch (err) {
            throw busError(
              `publishing was aborted with ${pending.length} events not accepted`,
              {
                failed: pending.length,
                total: entries.length,
                code: 'AbortError',
                retryable: true,
              },
              err,
            );
          }
        }
        const failed: number[] = [];
        for (const batch of batches(pending, sizes)) {
          let out: PutEventsResponse;
          try {
            out = await client.send(
              new PutEventsCommand({ Entries: batch.map((i) => entries[i]!) }),
              { abortSignal: signal },
            );
          } catch (err) {
            const info = describeSdkError(err);
            if (isAbortError(err) || signal?.aborted || !info.retryable) {
              throw busError(
                `EventBridge PutEvents failed: ${info.code}; ${pending.length} events may not be accepted`,
                {
                  failed: pending.length,
                  total: entries.length,
                  code: info.code,
                  retryable: info.retryable,
                  requestId: info.requestId,
                },
                err,
              );
            }
            lastError = { code: info.code, requestId: info.requestId };
            failed.push(...batch);
            continue;
          }
          const results = out.Entries ?? [];
          // FailedEntryCount is a summary; the per-entry results are the truth.
          batch.forEach((entryIndex, pos) => {
            const r = results[pos];
            // A missing result or one without EventId is not known to be accepted: resend it.
            if (r === undefined || r.ErrorCode || !r.EventId) {
              failed.push(entryIndex);
              lastError = { code: r?.ErrorCode ?? 'MissingResult', requestId: null };
            }
          });
        }
        pending = failed;
      }
    },
  };
}
