// Test fixture (not a test), run as its own process because the failure it guards against is a
// SIGBUS: opens the requester's SQLite stores, writes, truncates the `-shm` as another process
// could, then makes the lock-free reads a keyed POST (`peek`) and GET /v1/transactions/{jti}
// (`get`) make, and a `begin`. Prints one JSON line per call; a regression dies silently.
// (SQLite's own close at teardown may still touch the lost pages: the lines are out by then.)
import { truncateSync } from 'node:fs';
import { createSqliteIdempotencyStore } from '../sqlite-idempotency-store.ts';
import { createSqliteTransactionStore } from '../sqlite-transaction-store.ts';

const [path] = process.argv.slice(2);
if (!path) throw new TypeError('usage: shm-truncation-child.ts <path>');
const clock = { now: () => Date.now() };
const idempotency = createSqliteIdempotencyStore({ path, clock });
const transactions = createSqliteTransactionStore({ path, clock });
await idempotency.begin('s', 'k', 'h');
await transactions.remember([{ iss: 'i', jti: 'j', account: 'a' }]);
truncateSync(`${path}-shm`, 0);

const say = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);
const codes = (err: unknown) => {
  const e = err as { code?: string; details?: { code?: string } } | null;
  return [e?.code, e?.details?.code];
};
say({ peek: await idempotency.peek!('s', 'other') });
for (const [what, call] of [
  ['get', () => transactions.get({ iss: 'i', jti: 'j' })],
  ['begin', () => idempotency.begin('s', 'other', 'h')],
] as const) {
  try {
    await call();
    say({ [what]: 'answered' });
  } catch (err) {
    say({ [what]: codes(err) });
  }
}
