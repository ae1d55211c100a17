// The one reader of token payloads BEFORE their signature is checked (attribution in logs and
// findings, the gateway's redelivery lookup, reading back its own stored receipts). What it
// returns is unverified: never authorize on it. `__proto__` members are dropped.
import { BATCH_MEMBERS, isBatchItem } from '@countersign/contracts';

const noProto = (k: string, v: unknown) => (k === '__proto__' ? undefined : v);

/** A batch item's claims (the item without its envelope), unverified. */
function decodeUnverifiedItem(token: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(token, noProto);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const claims = { ...(value as Record<string, unknown>) };
    for (const m of BATCH_MEMBERS) delete claims[m];
    return claims;
  } catch {
    return undefined;
  }
}

/** The payload object of a compact JWS, unverified; undefined when it is not a JSON object. */
export function decodeUnverified(token: string): Record<string, unknown> | undefined {
  if (isBatchItem(token)) return decodeUnverifiedItem(token);
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0) return undefined;
  try {
    const text = Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8');
    const value: unknown = JSON.parse(text, noProto);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A compact JWS payload's `iat` (seconds), unverified; undefined when absent or not a number. */
export function unverifiedIat(payload: Buffer): number | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'), noProto);
    const iat = (value as { iat?: unknown } | null)?.iat;
    return typeof iat === 'number' && Number.isFinite(iat) ? iat : undefined;
  } catch {
    return undefined;
  }
}
