// Child process of requester-sqlite-queue.test.ts: receives one message from the embedded queue,
// reports it on stdout, and then hangs without deleting it until the parent kills it.
import { createSqliteQueue } from '@countersign/transport';

const [path, visibility] = process.argv.slice(2);
const queue = createSqliteQueue({
  path: path!,
  visibilityTimeoutSec: Number(visibility),
  maxReceives: 5,
});
const [msg] = await queue.receive({ max: 1, waitMs: 5000 });
process.stdout.write(
  `${JSON.stringify(msg ? { messageId: msg.messageId, receiveCount: msg.receiveCount } : null)}\n`,
);
setInterval(() => undefined, 60_000); // stay alive, message in flight, until SIGKILL
