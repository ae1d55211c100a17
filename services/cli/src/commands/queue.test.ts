// `countersign queue dlq|redrive` in embedded mode: a real queue file in a temp data directory,
// dead letters made the way the queue makes them (received past maxReceives).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { embeddedPaths } from '@countersign/contracts';
import { createSqliteQueue, type SqliteQueue } from '@countersign/transport';
import { queueDlqCommand, queueRedriveCommand, register, type QueueCommandIO } from './queue.ts';

function sink() {
  const chunks: string[] = [];
  return { write: (t: string) => chunks.push(t), text: () => chunks.join('') };
}

let dir: string;
let queue: SqliteQueue;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-queue-'));
  queue = createSqliteQueue({
    path: embeddedPaths(dir).queueDb,
    visibilityTimeoutSec: 30,
    maxReceives: 1,
  });
});
afterEach(async () => {
  await queue.close();
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = undefined;
});

function io(env: Record<string, string> = {}) {
  const stdout = sink();
  const stderr = sink();
  const value: QueueCommandIO = { env: { COUNTERSIGN_DATA_DIR: dir, ...env }, stdout, stderr };
  return { io: value, stdout, stderr };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A compact JWS whose signature is garbage: the listing must show its claims all the same. */
const token = (jti: string, sub: string) =>
  `${b64({ alg: 'ES256', typ: 'countersign-request+jwt' })}.${b64({ iss: 'bot', sub, jti })}.AAAA`;

/** Sends the bodies and makes each a dead letter (one receive, released, then moved). */
async function deadLetters(bodies: { body: string; groupId: string }[]): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, b] of bodies.entries()) {
    ids.push((await queue.send({ ...b, dedupId: `d-${i}` })).messageId);
  }
  for (const m of await queue.receive({ max: 10, waitMs: 0 })) {
    await queue.changeVisibility(m.receiptHandle, 0);
  }
  await queue.receive({ max: 10, waitMs: 0 });
  expect(queue.depth().dlq).toBe(bodies.length);
  return ids;
}

interface Listed {
  count: number;
  messages: { messageId: string; groupId: string; receiveCount: number; unverified: unknown }[];
}

describe('countersign queue', () => {
  it('dlq lists the dead letters with their unverified iss/jti/sub, as text and JSON', async () => {
    const empty = io();
    expect(await queueDlqCommand({}, empty.io)).toBe(0);
    expect(empty.stdout.text()).toBe(`0 dead letter(s) in ${embeddedPaths(dir).queueDb}\n`);

    const [a, b] = await deadLetters([
      { body: token('jti-aaaaaaaaaaaaaaaaaa', 'acct-1'), groupId: 'acct-1' },
      { body: 'not a token', groupId: 'acct-2' },
    ]);
    const json = io();
    expect(await queueDlqCommand({ json: true }, json.io)).toBe(0);
    const listed = JSON.parse(json.stdout.text()) as Listed;
    expect(listed.count).toBe(2);
    expect(listed.messages).toEqual([
      expect.objectContaining({
        messageId: a,
        groupId: 'acct-1',
        receiveCount: 1,
        unverified: { iss: 'bot', jti: 'jti-aaaaaaaaaaaaaaaaaa', sub: 'acct-1' },
      }),
      expect.objectContaining({
        messageId: b,
        groupId: 'acct-2',
        unverified: { iss: null, jti: null, sub: null },
      }),
    ]);
    const text = io();
    expect(await queueDlqCommand({ limit: '1' }, text.io)).toBe(0);
    expect(text.stdout.text()).toMatch(
      new RegExp(
        `^${a}  group=acct-1  receives=1  moved=\\S+Z  sent=\\S+Z  iss=bot jti=jti-a+ sub=acct-1 \\(unverified\\)\\n` +
          '2 dead letter\\(s\\) in .* \\(1 shown\\)\\n$',
      ),
    );
  });

  it('redrive by id moves those and reports an unknown id (exit 1); --all moves the rest', async () => {
    const [a, b, c] = await deadLetters(
      ['acct-1', 'acct-2', 'acct-3'].map((g, i) => ({ body: token(`jti-${i}`, g), groupId: g })),
    );
    const some = io();
    expect(await queueRedriveCommand({ messageId: [c!, 'nope'] }, some.io)).toBe(1);
    expect(some.stdout.text()).toContain(`moved ${c}  group=acct-3`);
    expect(some.stdout.text()).toContain('moved 1 message(s) back to the queue\n');
    expect(some.stderr.text()).toBe('not in the dead-letter queue: nope\n');
    expect(queue.depth()).toEqual({ visible: 1, inFlight: 0, dlq: 2 });

    const all = io();
    expect(await queueRedriveCommand({ all: true }, all.io)).toBe(0);
    expect(all.stdout.text()).toContain('moved 2 message(s) back to the queue\n');
    expect(queue.depth()).toEqual({ visible: 3, inFlight: 0, dlq: 0 });
    // Queued again as the same messages, a fresh receive count.
    const got = await queue.receive({ max: 10, waitMs: 0 });
    expect(got.map((m) => [m.messageId, m.receiveCount])).toEqual([
      [c, 1],
      [a, 1],
      [b, 1],
    ]);
    const none = io();
    expect(await queueRedriveCommand({ all: true }, none.io)).toBe(0);
    expect(none.stdout.text()).toBe('moved 0 message(s) back to the queue\n');
  });

  it('exit 2 on bad arguments: neither flag, both, a bad --limit, --message-id in aws mode', async () => {
    const run = async (args: string[], env: Record<string, string> = {}) => {
      const { io: value, stdout, stderr } = io(env);
      const program = new Command().exitOverride();
      register(program, value);
      process.exitCode = undefined;
      await program.parseAsync(['node', 'countersign', 'queue', ...args]);
      return { code: process.exitCode, stdout: stdout.text(), stderr: stderr.text() };
    };
    expect(await run(['redrive'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--message-id ID ...) or pass --all') as string,
    });
    expect((await run(['redrive', '--all', '--message-id', 'x'])).code).toBe(2);
    expect((await run(['dlq', '--limit', '0'])).code).toBe(2);
    const aws = { COUNTERSIGN_MODE: 'aws', COUNTERSIGN_QUEUE_URL: 'https://q.example/1/q.fifo' };
    expect(await run(['redrive', '--message-id', 'x'], aws)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('use --all') as string,
    });
    expect(await run(['dlq'], { COUNTERSIGN_MODE: 'aws' })).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('COUNTERSIGN_QUEUE_URL') as string,
    });
    expect(queue.depth().dlq).toBe(0);
    expect((await run(['dlq', '--json'])).code).toBe(0);
  });
});
