// In-memory fake of the Queue port for unit tests (not exported from the package).
import { randomUUID } from 'node:crypto';
import type { OutgoingMessage, Queue, ReceivedMessage, SendResult } from '@countersign/transport';

export interface FakeQueue extends Queue {
  readonly sent: OutgoingMessage[];
  readonly batchSizes: number[];
  /** Decides per entry whether sendBatch reports it failed (after the adapter's retries). */
  failEntry: (m: OutgoingMessage) => boolean;
  failAll: boolean;
}

export function fakeQueue(): FakeQueue {
  const sent: OutgoingMessage[] = [];
  const batchSizes: number[] = [];
  const q: FakeQueue = {
    maxReceives: 5,
    sent,
    batchSizes,
    failEntry: () => false,
    failAll: false,
    send(m) {
      if (q.failAll) return Promise.reject(new Error('queue down'));
      sent.push(m);
      return Promise.resolve({ messageId: randomUUID() });
    },
    sendBatch(ms) {
      if (q.failAll) return Promise.reject(new Error('queue down'));
      batchSizes.push(ms.length);
      return Promise.resolve(
        ms.map((m): SendResult => {
          if (q.failEntry(m)) {
            return { ok: false, code: 'InternalError', message: 'entry failed', retryable: true };
          }
          sent.push(m);
          return { ok: true, messageId: randomUUID() };
        }),
      );
    },
    receive: () => Promise.resolve([] as ReceivedMessage[]),
    delete: () => Promise.resolve(),
    changeVisibility: () => Promise.resolve(),
  };
  return q;
}
