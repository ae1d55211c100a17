// The cache behind every key source that loads (KMS, a JWKS file, a JWKS URL): keys by kid,
// a TTL with stale-while-revalidate, single-flight loads and a penalty box.
//
//   load ok ──── ttlMs ────▶ stale: keep serving, one background load
//   unknown kid ──▶ final only if a load that STARTED after the token was signed lacks it:
//                   last load after the token ──▶ unknown at once
//                   last load before it ──▶ load now if the interval allows, else wait for the
//                                           one load scheduled at the end of the interval
//                   (at most one load per minRefreshIntervalMs per source: a spray of made-up
//                   kids costs one call per interval, never one per message; the wait is at
//                   most one interval, since the token's time is capped at now)
//   a load fails ──▶ keep serving the keys we have; the first load failing is KEY_UNAVAILABLE
//                   (not the token's fault), retried after minRefreshIntervalMs
//
// A kid looked up while a load is running waits for that load instead of starting another.
import { CountersignError, sleepOn, type Clock } from '@countersign/contracts';
import type { KeyEntry, KeyResolver, ResolveHint } from './key-resolvers.ts';

export interface CacheOptions {
  /** Keys are fresh this long after a load; then one background load refreshes them. */
  readonly ttlMs: number;
  /**
   * At most one load per this interval for unknown kids and after failures; also the longest an
   * unknown kid signed after our last load waits for the next one.
   */
  readonly minRefreshIntervalMs: number;
  /** Load again for an unknown kid (default true; false where keys cannot change, a KMS key id). */
  readonly refreshOnUnknownKid?: boolean;
  readonly clock: Clock;
}

export interface CachedKeys extends KeyResolver {
  list(): Promise<readonly KeyEntry[]>;
  peek(kid: string): KeyEntry | undefined;
  /** Starts the first load, or a background refresh when stale (never waits, never throws). */
  touch(): void;
  /** Loads started so far (tests count them). */
  readonly loads: number;
}

const noop = () => undefined;

export function cachedResolver(
  load: () => Promise<readonly KeyEntry[]>,
  options: CacheOptions,
): CachedKeys {
  const { ttlMs, minRefreshIntervalMs, clock } = options;
  const refreshOnUnknown = options.refreshOnUnknownKid ?? true;
  let byKid: Map<string, KeyEntry> | undefined;
  let loadedAt = 0;
  /** When the load behind `byKid` started: what it lacks, it lacked from then on. */
  let loadedFrom = Number.NEGATIVE_INFINITY;
  let lastAttemptAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;
  let inflightFrom = Number.NEGATIVE_INFINITY;
  /** The one load waiting for the interval to end, shared by every unknown kid that needs it. */
  let scheduled: Promise<void> | undefined;
  let lastError: unknown;
  let loads = 0;

  const refresh = (): Promise<void> => {
    inflight ??= (async () => {
      const startedAt = clock.now();
      lastAttemptAt = inflightFrom = startedAt;
      loads++;
      try {
        const entries = await load();
        byKid = new Map(entries.map((e) => [e.kid, e]));
        loadedFrom = startedAt;
        loadedAt = clock.now();
        lastError = undefined;
      } catch (err) {
        lastError = err;
        throw err;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
  const mayRefresh = (): boolean => clock.now() - lastAttemptAt >= minRefreshIntervalMs;
  const revalidate = (): void => {
    if (!inflight && clock.now() - loadedAt >= ttlMs && mayRefresh()) void refresh().catch(noop);
  };

  const loaded = async (): Promise<Map<string, KeyEntry>> => {
    if (byKid) {
      revalidate();
      return byKid;
    }
    if (!inflight && !mayRefresh()) {
      throw new CountersignError('KEY_UNAVAILABLE', 'verification keys could not be loaded', {
        cause: lastError,
      });
    }
    await refresh();
    return byKid ?? new Map();
  };

  /** A load now if the interval allows, else the one scheduled when it ends. */
  const nextLoad = (): Promise<void> => {
    if (inflight || mayRefresh()) return refresh();
    scheduled ??= (async () => {
      try {
        await sleepOn(clock, lastAttemptAt + minRefreshIntervalMs - clock.now());
      } finally {
        scheduled = undefined;
      }
      await refresh();
    })();
    return scheduled;
  };

  const slowResolve = async (kid: string, hint?: ResolveHint): Promise<KeyEntry | undefined> => {
    const hit = (await loaded()).get(kid);
    if (hit) return hit;
    if (!refreshOnUnknown) {
      if (inflight) await inflight.catch(noop); // a load is running: its result decides
      return byKid?.get(kid);
    }
    // The token's signing time, unverified: capped at now, so a forged future iat cannot make
    // us wait for more than the next load.
    const now = clock.now();
    const claimed = hint?.signedAtMs;
    const signedAt =
      typeof claimed === 'number' && !Number.isNaN(claimed) ? Math.min(claimed, now) : now;
    for (;;) {
      const known = byKid?.get(kid);
      if (known || loadedFrom >= signedAt) return known; // we looked after it was signed
      if (inflight && inflightFrom < signedAt) {
        await inflight.catch(noop); // started before the token: cannot decide, even failing
        continue;
      }
      try {
        await nextLoad(); // it starts at or after signedAt (≤ now): it decides
      } catch (cause) {
        // Not the token's fault: it may be a key of the source we could not read.
        throw new CountersignError('KEY_UNAVAILABLE', 'verification keys could not be reloaded', {
          cause,
        });
      }
    }
  };

  // The hot path: a cached kid is a Map lookup.
  const peek = (kid: string): KeyEntry | undefined => {
    const hit = byKid?.get(kid);
    if (hit) revalidate();
    return hit;
  };

  return {
    resolve(kid: string, hint?: ResolveHint): Promise<KeyEntry | undefined> {
      const hit = peek(kid);
      return hit ? Promise.resolve(hit) : slowResolve(kid, hint);
    },
    peek,
    async list() {
      return [...(await loaded()).values()];
    },
    touch() {
      if (byKid) revalidate();
      else if (!inflight && mayRefresh()) void refresh().catch(noop);
    },
    get loads() {
      return loads;
    },
  };
}
