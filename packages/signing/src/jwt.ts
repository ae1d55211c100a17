// Builds compact JWS tokens: header exactly {alg, kid, typ}, payload = the claims as JSON.
import type { TokenType } from '@countersign/contracts';
import { b64u } from './base64url.ts';
import { currentSigner, type Signer } from './signer.ts';

// The header segment depends only on the signer and typ: encode it once per pair.
const headers = new WeakMap<Signer, Map<TokenType, string>>();

function headerSegment(signer: Signer, typ: TokenType): string {
  let byTyp = headers.get(signer);
  if (!byTyp) headers.set(signer, (byTyp = new Map<TokenType, string>()));
  let header = byTyp.get(typ);
  if (header === undefined) {
    header = b64u(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ }));
    byTyp.set(typ, header);
  }
  return header;
}

export async function signJwt(
  signer: Signer,
  claims: object,
  options: { typ: TokenType },
): Promise<string> {
  // One key for header and signature, even if a key ring switches keys meanwhile.
  const active = currentSigner(signer);
  const header = headerSegment(active, options.typ);
  const payload = b64u(JSON.stringify(claims));
  const input = `${header}.${payload}`;
  const signature = await active.sign(Buffer.from(input, 'ascii'));
  return `${input}.${b64u(signature)}`;
}
