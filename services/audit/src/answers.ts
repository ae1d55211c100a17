// One answer per request and per message (DESIGN.md §1: every request ends in exactly one
// receipt). A receipt answers the message it names and, when it names its request and is not the
// REPLAYED refusal of a copy, that request; a follow-up (`resolves`) completes an UNKNOWN and
// answers nothing new. A second answer is ANSWERED_TWICE: e.g. a request executed again after
// its nonce record was lost (the exchange's client order id dedup hides it from reconcile), or a
// message answered EXECUTED and later REJECTED EXPIRED. Both receipts link fine in their chain,
// so nothing else in the audit sees it.
//
// Memory: two map entries a receipt, keyed by 96 bits of SHA-256 (not the ids themselves).
import { createHash } from 'node:crypto';
import { NonceKeys, type Finding, type ReceiptClaims } from '@countersign/contracts';

const short = (key: string) => createHash('sha256').update(key).digest('base64url').slice(0, 16);

export class AnswerIndex {
  private readonly streams: string[] = [];
  private readonly streamIds = new Map<string, number>();
  /** Hashed key → the first answer's stream id × 2^32 + seq. */
  private readonly first = new Map<string, number>();

  /** Records the answers of a newly accepted receipt; findings for any already answered. */
  add(claims: ReceiptClaims): Finding[] {
    if (claims.resolves !== undefined) return [];
    const keys: [string, string][] = [[`message ${claims.messageId}`, `m:${claims.messageId}`]];
    const { iss, jti } = claims.req;
    if (iss && jti && !(claims.outcome === 'REJECTED' && claims.reason === 'REPLAYED')) {
      const key = NonceKeys.request(iss, jti);
      keys.push([`request ${key}`, `r:${key}`]);
    }
    let id = this.streamIds.get(claims.stream);
    if (id === undefined) {
      id = this.streams.push(claims.stream) - 1;
      this.streamIds.set(claims.stream, id);
    }
    const here = id * 2 ** 32 + claims.seq;
    const found: Finding[] = [];
    for (const [what, key] of keys) {
      const h = short(key);
      const had = this.first.get(h);
      if (had === undefined) {
        this.first.set(h, here);
        continue;
      }
      if (had === here) continue;
      const at = `${this.streams[Math.floor(had / 2 ** 32)]}#${had % 2 ** 32}`;
      found.push({
        code: 'ANSWERED_TWICE',
        stream: claims.stream,
        seq: claims.seq,
        jti: claims.jti,
        message: `${what} was already answered by receipt ${at}; this is a second answer (${claims.outcome}${claims.reason ? ` ${claims.reason}` : ''})`,
      });
    }
    return found;
  }
}
