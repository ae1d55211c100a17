// The requester on the embedded SQLite queue: a consumer process killed between receive and
// delete loses nothing (the message comes back after the visibility timeout), and a message
// received maxReceives times without a delete moves to the DLQ.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalSigner } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import { createSqliteQueue } from '@countersign/transport';
import type { Queue } from '@countersign/transport';
import { createRequester } from '@countersign/requester';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const txn = {
  type: 'order',
  side: 'buy',
  symbol: 'SOL-USD',
  quantity: '10',
  limitPrice: '150.5',
  timeInForce: 'FOK',
} as const;

let dir: string;
let signer: Signer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'requester-sqlite-'));
  signer = await createLocalSigner({
    privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    alg: 'ES256',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const requesterOn = (queue: Queue, clock = { now: () => Date.now() }) =>
  createRequester({ signer, queue, issuer: 'bot', audience: 'gw', lifetimeSec: 60, clock });

/** Spawns the child consumer; resolves with what it received, leaving it running. */
function childReceives(path: string, visibilitySec: number) {
  // node itself with tsx loaded in-process: the tsx CLI would run the script in a grandchild,
  // and SIGKILL would then hit the wrapper while the real consumer lived on (and leaked).
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'test', 'support', 'requester-receive-child.ts'),
      path,
      String(visibilitySec),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const received = new Promise<{ messageId: string; receiveCount: number } | null>((ok, fail) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) ok(JSON.parse(out) as { messageId: string; receiveCount: number });
    });
    child.once('exit', (code) =>
      fail(new Error(`child exited (${code}) before reporting: ${err}`)),
    );
  });
  return { child, received };
}

describe('requester on the embedded SQLite queue', () => {
  it('a consumer killed between receive and delete: the message comes back after the visibility timeout', async () => {
    const path = join(dir, 'kill.sqlite');
    const queue = createSqliteQueue({ path, visibilityTimeoutSec: 2, maxReceives: 5 });
    const sent = await requesterOn(queue).submit(txn, { account: 'acct-1' });

    const { child, received } = childReceives(path, 2);
    const got = await received;
    expect(got).toEqual({ messageId: sent.messageId, receiveCount: 1 });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();

    // In flight: nobody else gets it before the timeout.
    expect(await queue.receive({ max: 10, waitMs: 0 })).toEqual([]);
    // Long poll until it is visible again (2 s after the child's receive).
    const [again] = await queue.receive({ max: 10, waitMs: 5000 });
    expect(again).toMatchObject({ messageId: sent.messageId, receiveCount: 2, body: sent.token });
    expect(Date.now() - killedAt).toBeLessThan(5000);
    await queue.delete(again!.receiptHandle);
    expect(await queue.receive({ max: 10, waitMs: 0 })).toEqual([]);
    await queue.close();
  }, 60_000);

  it('after maxReceives receives without a delete the message moves to the DLQ', async () => {
    let now = Date.UTC(2026, 5, 1);
    const clock = { now: () => now };
    const queue = createSqliteQueue({
      path: join(dir, 'dlq.sqlite'),
      visibilityTimeoutSec: 30,
      maxReceives: 3,
      clock,
    });
    const sent = await requesterOn(queue, clock).submit(txn, { account: 'acct-2' });
    for (let n = 1; n <= 3; n++) {
      const [m] = await queue.receive({ max: 1, waitMs: 0 });
      expect(m).toMatchObject({ messageId: sent.messageId, receiveCount: n });
      now += 31_000; // not deleted: the visibility timeout runs out
    }
    expect(await queue.receive({ max: 1, waitMs: 0 })).toEqual([]);
    const dead = queue.dlq();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({
      messageId: sent.messageId,
      body: sent.token,
      groupId: 'acct-2',
    });
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 1 });
    await queue.close();
  });
});
