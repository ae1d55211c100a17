// Keys from a JWKS URL (another requester's `/.well-known/jwks.json`). The URL is untrusted
// input at every step: https only (plain http to a loopback host, for tests), no redirects (one
// could lead to plain http), a time limit on the whole fetch and a size limit on the body, then
// the same validation as any JWKS (known alg, key fits alg, kid = thumbprint when shaped so).
// Cached like every key source (key-cache.ts): fresh for `ttlMs`, served stale while one
// background fetch runs, at most one fetch per `minRefreshIntervalMs` (5 s) for unknown kids or
// after a failure, so a spray of made-up kids costs one request per interval. A kid signed after
// the last fetch waits for the next one (a key the publisher added since then verifies).
import {
  CountersignError,
  isHttpsOrLoopback,
  systemClock,
  UNKNOWN_KID_REREAD_MS,
  type Clock,
} from '@countersign/contracts';
import { parseJwks } from '@countersign/signing';
import { cachedResolver, type CachedKeys } from './key-cache.ts';
import { jwksEntries } from './key-resolvers.ts';

export interface JwksUrlOptions {
  readonly issuer?: string;
  /** Default 5 min. */
  readonly ttlMs?: number;
  /** Default 5 s (UNKNOWN_KID_REREAD_MS): also the longest a token with a new kid waits. */
  readonly minRefreshIntervalMs?: number;
  /** The whole fetch, headers and body (default 5 s). */
  readonly timeoutMs?: number;
  /** Largest body accepted (default 64 KiB). */
  readonly maxBytes?: number;
  readonly clock?: Clock;
  /** Injected for tests; default the global fetch. */
  readonly fetch?: typeof fetch;
}

function unavailable(url: string, why: string, cause?: unknown): CountersignError {
  return new CountersignError('KEY_UNAVAILABLE', `JWKS ${url}: ${why}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { url },
  });
}

/** Reads at most `maxBytes` of a body; more is an error (never buffered). */
async function boundedText(res: Response, url: string, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw unavailable(url, `body larger than ${maxBytes} bytes`);
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early (too large) cancels the stream.
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw unavailable(url, `body larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** Keys from a JWKS URL; `loads` counts the fetches. */
export function jwksUrl(url: string, options: JwksUrlOptions = {}): CachedKeys {
  if (!isHttpsOrLoopback(url)) {
    throw new CountersignError(
      'CONFIG_INVALID',
      `JWKS URL ${url.slice(0, 200)} must be https:// (plain http:// only to a loopback host)`,
    );
  }
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? 65_536;
  return cachedResolver(
    async () => {
      let text: string;
      try {
        const res = await doFetch(url, {
          redirect: 'error',
          signal: AbortSignal.timeout(timeoutMs),
          headers: { accept: 'application/json' },
        });
        if (res.status !== 200) {
          await res.body?.cancel();
          throw unavailable(url, `HTTP ${res.status}`);
        }
        text = await boundedText(res, url, maxBytes);
      } catch (err) {
        if (err instanceof CountersignError) throw err;
        throw unavailable(url, 'fetch failed', err);
      }
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (cause) {
        throw unavailable(url, 'not valid JSON', cause);
      }
      return jwksEntries(parseJwks(raw, url).keys, options.issuer, url);
    },
    {
      ttlMs: options.ttlMs ?? 300_000,
      minRefreshIntervalMs: options.minRefreshIntervalMs ?? UNKNOWN_KID_REREAD_MS,
      clock: options.clock ?? systemClock,
    },
  );
}
