// Test fixture (not a test): a separate process that drains an embedded queue and prints the
// message ids it received, one JSON array on stdout. Used to prove two processes sharing the
// file never get the same delivery.
import { createSqliteQueue } from '../sqlite-queue.ts';

const [path, name] = process.argv.slice(2);
if (!path || !name) throw new Error('usage: sqlite-queue-child.ts <path> <queue name>');
const queue = createSqliteQueue({ path, name, visibilityTimeoutSec: 120, maxReceives: 5 });
// Barrier: start draining only when the parent says so, so both children really overlap.
process.stderr.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
const seen: string[] = [];
let empty = 0;
while (empty < 3) {
  const got = await queue.receive({ max: 10, waitMs: 20 });
  if (got.length === 0) empty++;
  else empty = 0;
  for (const m of got) {
    seen.push(m.messageId);
    await queue.delete(m.receiptHandle);
  }
  // A little work per batch, so the two processes interleave instead of one draining it all.
  await new Promise((r) => setTimeout(r, 2));
}
await queue.close();
process.stdout.write(JSON.stringify(seen));
