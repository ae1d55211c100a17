// The one reader of token payloads BEFORE their signature is checked (attribution in logs and
// findings, the gateway's redelivery lookup, reading back its own stored receipts). What it
// returns is unverified: never authorize on it. `__proto__` members are dropped.

/** The payload object of a compact JWS, unverified; undefined when it is not a JSON object. */
export function decodeUnverified(token: string): Record<string, unknown> | undefined {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0) return undefined;
  try {
    const text = Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8');
    const value: unknown = JSON.parse(text, (k, v: unknown) => (k === '__proto__' ? undefined : v));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
