// Token ids (request jti, receipt jti): 128 random bits, base64url without padding (22 characters), DESIGN.md §3.
// Random bytes are drawn from the CSPRNG 4 KiB at a time (one syscall per 256 ids, as Node does
// for randomUUID); each id uses its own 16 bytes exactly once.
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 256;
const pool = Buffer.alloc(16 * POOL_IDS);
let next = POOL_IDS;

export function newJti(): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const start = 16 * next++;
  return pool.toString('base64url', start, start + 16);
}
