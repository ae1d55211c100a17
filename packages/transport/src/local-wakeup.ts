// In-process wake-ups for the embedded adapters' long polls. Several adapter instances in one
// process (requester, gateway, audit) share a SQLite file; when one writes, pollers on the same
// file wake at once instead of at their next poll tick. Other processes still poll.
import { resolve } from 'node:path';

const waiters = new Map<string, Set<() => void>>();

export function wakeupKey(path: string, name: string): string {
  return `${resolve(path)}\0${name}`;
}

/** Wakes every poller waiting on `key`. */
export function notifyLocal(key: string): void {
  const set = waiters.get(key);
  if (!set) return;
  waiters.delete(key);
  for (const wake of set) wake();
}

/**
 * Sleeps up to `ms`, returning early when `key` is notified. Resolves false only when `signal`
 * aborted.
 */
export function waitLocal(key: string, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((done) => {
    let set = waiters.get(key);
    if (!set) waiters.set(key, (set = new Set()));
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      waiters.get(key)?.delete(wake);
      done(ok);
    };
    const wake = () => finish(true);
    const onAbort = () => finish(false);
    const timer = setTimeout(wake, ms);
    set.add(wake);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
