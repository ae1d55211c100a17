// RFC 7638 JWK thumbprints (SHA-256): the JSON of a key's required members in lexicographic
// order, no whitespace, hashed. Our kids are thumbprints (DESIGN.md §2), so a kid of that shape
// that is not its own key's thumbprint names another key: the shadowing of issue 14.
import { createHash } from 'node:crypto';

/** The public members a thumbprint covers (EC: crv, x, y; RSA: e, n). */
export interface ThumbprintMembers {
  readonly kty: 'EC' | 'RSA';
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly e?: string;
  readonly n?: string;
}

export function jwkThumbprint(jwk: ThumbprintMembers): string {
  const canonical =
    jwk.kty === 'EC'
      ? JSON.stringify({ crv: jwk.crv ?? '', kty: jwk.kty, x: jwk.x ?? '', y: jwk.y ?? '' })
      : JSON.stringify({ e: jwk.e ?? '', kty: jwk.kty, n: jwk.n ?? '' });
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}

/** A kid shaped like a SHA-256 thumbprint (43 base64url characters). */
export function looksLikeThumbprint(kid: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(kid);
}

/** Why `kid` cannot be this key's, or undefined when it can. */
export function thumbprintMismatch(kid: string, jwk: ThumbprintMembers): string | undefined {
  if (!looksLikeThumbprint(kid)) return undefined;
  const own = jwkThumbprint(jwk);
  return own === kid
    ? undefined
    : `kid ${kid} has the form of an RFC 7638 thumbprint but its key's thumbprint is ${own}`;
}
