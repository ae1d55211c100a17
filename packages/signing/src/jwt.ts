// Builds compact JWS tokens: header exactly {alg, kid, typ}, payload = the claims as JSON.
import type { TokenType } from '@countersign/contracts';
import { b64u } from './base64url.ts';
import type { Signer } from './signer.ts';

export async function signJwt(
  signer: Signer,
  claims: object,
  options: { typ: TokenType },
): Promise<string> {
  const header = b64u(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ: options.typ }));
  const payload = b64u(JSON.stringify(claims));
  const input = `${header}.${payload}`;
  const signature = await signer.sign(Buffer.from(input, 'ascii'));
  return `${input}.${b64u(signature)}`;
}
