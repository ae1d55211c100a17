// Where countersign may fetch from over the network (an exchange, a JWKS URL): TLS, or plain
// http only to this machine (simulators and tests).

/** True for `https:` URLs and for `http:` to a loopback host. */
export function isHttpsOrLoopback(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return (
    url.protocol === 'http:' && (host === 'localhost' || host === '::1' || /^127\./.test(host))
  );
}
