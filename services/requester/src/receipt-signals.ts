// In-process notification that a receipt was stored for an order: a long-polling
// GET /v1/transactions/{jti}?wait=S sleeps on its order's key and wakes when the receipt consumer
// of this process stores one. Receipts stored by another process (another requester, the AWS
// receipts function) raise nothing here; the waiter also re-reads the store now and then.
export interface ReceiptSignals {
  /** Wakes every waiter of these keys. */
  notify(keys: Iterable<string>): void;
  /**
   * Sleeps up to `ms`, returning early (true) when `key` is notified; false when the time ran
   * out or `signal` aborted.
   */
  wait(key: string, ms: number, signal?: AbortSignal): Promise<boolean>;
  /** Keys with a waiter (tests). */
  readonly waiting: number;
}

export function createReceiptSignals(): ReceiptSignals {
  const waiters = new Map<string, Set<() => void>>();
  return {
    notify(keys) {
      for (const key of keys) {
        const set = waiters.get(key);
        if (!set) continue;
        waiters.delete(key);
        for (const wake of set) wake();
      }
    },
    wait(key, ms, signal) {
      if (signal?.aborted) return Promise.resolve(false);
      return new Promise<boolean>((done) => {
        let set = waiters.get(key);
        if (!set) waiters.set(key, (set = new Set()));
        const finish = (woken: boolean) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const mine = waiters.get(key);
          mine?.delete(wake);
          if (mine?.size === 0) waiters.delete(key);
          done(woken);
        };
        const wake = () => finish(true);
        const onAbort = () => finish(false);
        const timer = setTimeout(() => finish(false), Math.max(0, ms));
        set.add(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    get waiting() {
      return waiters.size;
    },
  };
}
