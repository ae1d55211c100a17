// Child process of requester-faults.test.ts: a requester (embedded SQLite queue and idempotency
// store in <dir>) that serves one POST with an Idempotency-Key and is killed (SIGKILL, no cleanup)
// at an injected point: `send` = as the queue is about to store the message (the jti is already
// fixed in the record), `complete` = after the message is on the queue, before the answer is
// recorded. Clock frozen at <nowMs>. Reads { pem, apiKey, entry, path, body, key } on stdin.
// The request goes over a socket to startHttpServer, as in production: POST /v1/transactions
// through the submit lane, the batch route through the app.
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLocalSigner } from '@countersign/signing';
import { createSqliteQueue } from '@countersign/transport';
import type { Queue } from '@countersign/transport';
import {
  createRequester,
  createRequesterApp,
  createSqliteIdempotencyStore,
  startHttpServer,
} from '@countersign/requester';
import { unknownTransactions } from '@countersign/requester/testing';
import type { IdempotencyStore } from '@countersign/requester';
import type { ApiKeyEntry } from '@countersign/contracts';

const [dir, crashAt, nowMs, issuer, audience] = process.argv.slice(2);
const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
  pem: string;
  apiKey: string;
  entry: ApiKeyEntry;
  path: string;
  body: unknown;
  key: string;
};

const die = (): Promise<never> => {
  process.kill(process.pid, 'SIGKILL');
  return new Promise<never>(() => undefined);
};
const clock = { now: () => Number(nowMs) };
const realQueue = createSqliteQueue({
  path: join(dir!, 'queue.sqlite'),
  visibilityTimeoutSec: 30,
  maxReceives: 5,
  clock,
});
const queue: Queue = crashAt === 'send' ? { ...realQueue, send: die, sendBatch: die } : realQueue;
const realStore = createSqliteIdempotencyStore({ path: join(dir!, 'requester.sqlite'), clock });
const store: IdempotencyStore =
  crashAt === 'complete' ? { ...realStore, complete: die } : realStore;

const app = createRequesterApp({
  requester: createRequester({
    signer: await createLocalSigner({ privateKey: createPrivateKey(input.pem), alg: 'ES256' }),
    queue,
    issuer: issuer!,
    audience: audience!,
    lifetimeSec: 300,
    clock,
  }),
  apiKeys: [input.entry],
  idempotency: store,
  transactions: unknownTransactions,
  logger: pino({ level: 'silent' }),
  maxBodyBytes: 1_000_000,
});
const server = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
const res = await fetch(`${server.url}${input.path}`, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    authorization: `Bearer ${input.apiKey}`,
    'idempotency-key': input.key,
  },
  body: JSON.stringify(input.body),
});
// Not reached when the crash point was hit.
process.stdout.write(`survived: ${res.status}\n`);
