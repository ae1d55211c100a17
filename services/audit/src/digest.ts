// SHA-256 helpers. Chain state keeps a 128-bit prefix of each digest in typed arrays (16 bytes a
// receipt instead of a 43-character string): enough to tell duplicates from conflicts and to
// check links.
export const DIGEST_WORDS = 4;

/** SHA-256 of the token's bytes, base64url without padding (the `req.sha256` / `prev` form). */
export { sha256B64u } from '@countersign/contracts';

/** The first 128 bits of a base64url SHA-256 digest as four uint32 words. */
export function digestWords(b64u: string): Uint32Array {
  const buf = Buffer.from(b64u, 'base64url');
  const out = new Uint32Array(DIGEST_WORDS);
  for (let i = 0; i < DIGEST_WORDS; i++)
    out[i] = buf.length >= (i + 1) * 4 ? buf.readUInt32BE(i * 4) : 0;
  return out;
}

export function wordsToB64u(words: ArrayLike<number>): string {
  const buf = Buffer.alloc(words.length * 4);
  for (let i = 0; i < words.length; i++) buf.writeUInt32BE(words[i]! >>> 0, i * 4);
  return buf.toString('base64url');
}
