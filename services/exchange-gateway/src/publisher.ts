// Coalesces receipt events of messages finishing in the same event-loop turn into one
// bus.publish call (≤ 10 entries: one PutEvents, or one SQLite transaction). Each caller
// still learns whether ITS event was published: a failed batch fails every caller in it, and
// each of those messages is simply not deleted (its redelivery re-publishes the stored receipt).
import type { ReceiptEventDetail } from '@countersign/contracts';
import type { EventBus } from '@countersign/transport';

export type Publish = (event: ReceiptEventDetail) => Promise<void>;

interface Waiting {
  readonly event: ReceiptEventDetail;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export function createCoalescingPublisher(bus: EventBus, maxBatch = 10): Publish {
  let waiting: Waiting[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const all = waiting;
    waiting = [];
    for (let i = 0; i < all.length; i += maxBatch) {
      const batch = all.slice(i, i + maxBatch);
      bus.publish(batch.map((w) => w.event)).then(
        () => batch.forEach((w) => w.resolve()),
        (err: unknown) => batch.forEach((w) => w.reject(err)),
      );
    }
  };
  return (event) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ event, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
