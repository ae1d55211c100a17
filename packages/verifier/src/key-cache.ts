// The cache behind every key source that loads (KMS, a JWKS file, a JWKS URL): keys by kid,
// a TTL with stale-while-revalidate, single-flight loads and a penalty box.
//
//   load ok ──── ttlMs ────▶ stale: keep serving, one background load
//   unknown kid ──▶ one load, at most once per minRefreshIntervalMs per source (a spray of
//                   made-up kids costs one call per interval, never one per message)
//   a load fails ──▶ keep serving the keys we have; the first load failing is KEY_UNAVAILABLE
//                   (not the token's fault), retried after minRefreshIntervalMs
//
// A kid looked up while a load is running waits for that load instead of starting another.
import { CountersignError, type Clock } from '@countersign/contracts';
import type { KeyEntry, KeyResolver } from './key-resolvers.ts';

export interface CacheOptions {
  /** Keys are fresh this long after a load; then one background load refreshes them. */
  readonly ttlMs: number;
  /** At most one load per this interval for unknown kids and after failures. */
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
  let lastAttemptAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;
  let lastError: unknown;
  let loads = 0;

  const refresh = (): Promise<void> => {
    inflight ??= (async () => {
      lastAttemptAt = clock.now();
      loads++;
      try {
        const entries = await load();
        byKid = new Map(entries.map((e) => [e.kid, e]));
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

  const slowResolve = async (kid: string): Promise<KeyEntry | undefined> => {
    const hit = (await loaded()).get(kid);
    if (hit) return hit;
    if (inflight) {
      await inflight.catch(noop); // a load is running: its result decides
    } else if (refreshOnUnknown && mayRefresh()) {
      await refresh().catch(noop); // keep serving what we have; the kid stays unknown
    }
    return byKid?.get(kid);
  };

  // The hot path: a cached kid is a Map lookup.
  const peek = (kid: string): KeyEntry | undefined => {
    const hit = byKid?.get(kid);
    if (hit) revalidate();
    return hit;
  };

  return {
    resolve(kid: string): Promise<KeyEntry | undefined> {
      const hit = peek(kid);
      return hit ? Promise.resolve(hit) : slowResolve(kid);
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
