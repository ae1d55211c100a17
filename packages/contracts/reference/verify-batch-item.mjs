// Reference verifier of a countersign batch item: any JOSE library plus SHA-256.
import { createHash } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';

const sha256 = (...parts) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
// RFC 8785 for JSON without fractions: keys sorted by UTF-16 code units, no whitespace.
const canonical = (v) =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(',')}]`
    : v !== null && typeof v === 'object'
      ? `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
          .join(',')}}`
      : JSON.stringify(v);

/** Returns the item's claims if `itemText` is in a batch signed by a key of `jwks`; else throws. */
export async function verifyBatchItem(itemText, jwks, headTyp /* 'txn-batch+jwt' | … */) {
  const item = JSON.parse(itemText);
  if (canonical(item) !== itemText) throw new Error('item is not canonical JSON');
  const { batch, index, path, ...claims } = item;
  const { payload: head } = await jwtVerify(batch, createLocalJWKSet(jwks), {
    typ: headTyp,
    issuer: claims.iss,
  });
  // RFC 9162 §2.1.3.2: walk from the leaf to the root; the path length must come out exact.
  if (!Number.isInteger(index) || index < 0 || index >= head.size) throw new Error('bad index');
  let r = sha256(Buffer.from([0]), Buffer.from(canonical(claims)));
  let fn = index;
  let sn = head.size - 1;
  for (const p of path.map((h) => Buffer.from(h, 'base64url'))) {
    if (sn === 0 || p.length !== 32) throw new Error('bad proof');
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(Buffer.from([1]), p, r);
      while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >> 1, sn >> 1];
    } else {
      r = sha256(Buffer.from([1]), r, p);
    }
    [fn, sn] = [fn >> 1, sn >> 1];
  }
  if (sn !== 0 || r.toString('base64url') !== head.root) throw new Error('not in the batch');
  return claims; // now check them as for a single token: exp, nbf, aud, jti, and for receipts
  // stream = head.stream, seq = head.firstSeq + index
}
