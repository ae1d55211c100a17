import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { embeddedPaths } from '@countersign/contracts';
import { createSqliteQueue } from '@countersign/transport';
import type { Queue } from '@countersign/transport';
import {
  IDEMPOTENCY_LEASE_MS,
  createRequesterFromConfig,
  createSqliteIdempotencyStore,
  idempotencyDbPath,
} from '@countersign/requester';
import {
  parseSubmitInput,
  register,
  requestSubmitCommand,
  type RequesterCommandIO,
} from './requester.ts';
import { CLI_TXN, embeddedCommandIO } from '../testing/command-io.ts';

const txn = CLI_TXN;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-requester-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = undefined;
});

const io = (input: string, env: Record<string, string> = {}) => embeddedCommandIO(dir, input, env);

describe('parseSubmitInput', () => {
  it('reads a JSON array and NDJSON (blank lines ignored)', () => {
    const arr = parseSubmitInput(
      JSON.stringify([
        { account: 'a', txn },
        { account: 'b', txn },
      ]),
    );
    expect(arr.errors).toEqual([]);
    expect(arr.items.map((i) => i.account)).toEqual(['a', 'b']);
    const nd = parseSubmitInput(
      `${JSON.stringify({ account: 'a', txn })}\n\n${JSON.stringify({ txn, account: 'c' })}\n`,
    );
    expect(nd.items.map((i) => i.account)).toEqual(['a', 'c']);
  });

  it('points at malformed entries by index or line', () => {
    expect(
      parseSubmitInput('[{"account":"a","txn":{}}, 3, {"account":"b","txn":{},"x":1}]').errors,
    ).toEqual([
      { path: '[1]', message: 'must be an object { account, txn }' },
      { path: '[2]', message: 'unknown field(s): x' },
    ]);
    expect(parseSubmitInput('{"account":"a","txn":{}}\n{oops\n').errors).toEqual([
      { path: 'line 2', message: 'not valid JSON' },
    ]);
    expect(parseSubmitInput('[1,').errors[0]!.path).toBe('(input)');
    expect(parseSubmitInput('  ').errors[0]!.message).toBe('no requests');
  });
});

describe('countersign request submit (embedded)', () => {
  it('signs and enqueues every entry, prints one line per request and a summary', async () => {
    const items = Array.from({ length: 25 }, (_, i) => ({ account: `acct-${i % 2}`, txn }));
    const t = io(items.map((i) => JSON.stringify(i)).join('\n'));
    expect(await requestSubmitCommand({ file: 'orders.ndjson' }, t.io)).toBe(0);
    const lines = t.stdout
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { index: number; jti: string; token?: string });
    expect(lines.map((l) => l.index)).toEqual(items.map((_, i) => i));
    expect(lines.every((l) => l.token === undefined)).toBe(true);
    expect(t.stderr.text()).toMatch(/submitted 25 of 25 requests/);
    // They are on the embedded queue under <dataDir>.
    const queue = createSqliteQueue({
      path: embeddedPaths(dir).queueDb,
      visibilityTimeoutSec: 30,
      maxReceives: 5,
    });
    expect(queue.depth().visible).toBe(25);
    await queue.close();
    // The key was created on first run, private file 0600.
    expect(statSync(join(dir, 'keys', 'requester.pem')).mode & 0o777).toBe(0o600);
  });

  it('exits 1 and names each bad field of each failed entry; valid entries still go', async () => {
    const t = io(
      JSON.stringify([
        { account: 'a', txn },
        { account: 'a', txn: { ...txn, side: 'up', quantity: '0' } },
      ]),
    );
    expect(await requestSubmitCommand({ file: 'x.json' }, t.io)).toBe(1);
    expect(t.stderr.text()).toMatch(/\[1\]: REQUEST_INVALID \(txn\.side: .*txn\.quantity: /);
    expect(t.stderr.text()).toMatch(/submitted 1 of 2 requests.*1 failed/);
    expect(t.stdout.text().trim().split('\n')).toHaveLength(1);
  });

  it('reports a malformed line by its line number and still submits the others (exit 1)', async () => {
    const good = JSON.stringify({ account: 'acct-0', txn });
    const bad = JSON.stringify({ account: 'acct-0', txn: { ...txn, side: 'up' } });
    // A leading blank line and one between: numbers are the file's lines, as an editor shows.
    const t = io(`\n${good}\n{oops\n\n${bad}\n${good}\n`);
    expect(await requestSubmitCommand({ file: 'x' }, t.io)).toBe(1);
    expect(t.stderr.text()).toMatch(/^line 3: not valid JSON \(not submitted\)$/m);
    expect(t.stderr.text()).toMatch(/^line 5: REQUEST_INVALID \(txn\.side: /m);
    expect(t.stderr.text()).toMatch(
      /submitted 2 of 3 requests.*1 failed, 1 malformed entries skipped/,
    );
    const lines = t.stdout
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; jti: string });
    expect(lines.map((l) => l.line)).toEqual([2, 6]);
  });

  it('numbers each printed entry by its place in the input, malformed entries counted', async () => {
    const good = (account: string) => ({ account, txn });
    // [1] is not an object: the entry after it is [2], on stderr and on stdout alike.
    const arr = io(JSON.stringify([good('acct-0'), 3, good('acct-1')]));
    expect(await requestSubmitCommand({ file: 'x.json' }, arr.io)).toBe(1);
    expect(arr.stderr.text()).toMatch(/^\[1\]: must be an object/m);
    const arrLines = arr.stdout
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { index: number });
    expect(arrLines.map((l) => l.index)).toEqual([0, 2]);
    // NDJSON: entry 1 (line 2) is not JSON; lines 4 and 5 are entries 2 and 3.
    const nd = io(
      `${JSON.stringify(good('acct-0'))}\n{oops\n\n${JSON.stringify(good('acct-1'))}\n${JSON.stringify(good('acct-0'))}\n`,
    );
    expect(await requestSubmitCommand({ file: 'x' }, nd.io)).toBe(1);
    const ndLines = nd.stdout
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { index: number; line: number });
    expect(ndLines.map((l) => [l.index, l.line])).toEqual([
      [0, 1],
      [2, 4],
      [3, 5],
    ]);
  });

  it('exits 2 with one line per bad config field (via register)', async () => {
    const t = io('[]', { COUNTERSIGN_TOKEN_LIFETIME_SEC: '9999', COUNTERSIGN_MODE: 'cloud' });
    const program = new Command('countersign').exitOverride();
    register(program, t.io);
    await program.parseAsync(['node', 'countersign', 'request', 'submit', '--file', 'x.json']);
    expect(process.exitCode).toBe(2);
    const lines = t.stderr.text().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.join('\n')).toMatch(/COUNTERSIGN_MODE/);
    expect(lines.join('\n')).toMatch(/COUNTERSIGN_TOKEN_LIFETIME_SEC/);
  });
});

describe('countersign request submit after a crash', () => {
  const lines = Array.from({ length: 25 }, (_, i) =>
    JSON.stringify({ account: `acct-${i % 2}`, txn: { ...txn, clientRef: `r-${i}` } }),
  ).join('\n');

  /** A run whose requester and idempotency store use `clock` and `queue`. */
  function runOn(queue: Queue, clock: { now(): number }) {
    const t = io(lines);
    const value: RequesterCommandIO = {
      ...t.io,
      createRequester: (config) => createRequesterFromConfig(config, { queue, clock }),
      openIdempotency: (config) =>
        createSqliteIdempotencyStore({ path: idempotencyDbPath(config), clock }),
    };
    return { ...t, io: value };
  }
  const printed = (text: string) =>
    text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { index: number; jti: string; resent?: true; replayed?: true });

  it('killed after some batches were enqueued: running the same file again sends the same tokens, no second order', async () => {
    let now = Date.UTC(2026, 4, 1);
    const clock = { now: () => now };
    const queueAt = () =>
      createSqliteQueue({
        path: embeddedPaths(dir).queueDb,
        visibilityTimeoutSec: 30,
        maxReceives: 5,
        clock,
      });
    // First run: batches of 10; the process dies right after the second batch is stored.
    const real = queueAt();
    let died!: () => void;
    const reached = new Promise<void>((r) => (died = r));
    let batches = 0;
    const dying: Queue = {
      ...real,
      maxBatchSize: 10,
      sendBatch: async (ms, signal) => {
        const out = await real.sendBatch(ms, signal);
        if (++batches < 2) return out;
        died();
        return new Promise<never>(() => undefined);
      },
    };
    void requestSubmitCommand({ file: 'orders.ndjson' }, runOn(dying, clock).io);
    await reached;
    expect(real.depth().visible).toBe(20);

    // The rerun, after the dead run's lease.
    now += IDEMPOTENCY_LEASE_MS;
    const queue = queueAt();
    const second = runOn(queue, clock);
    expect(await requestSubmitCommand({ file: 'orders.ndjson' }, second.io)).toBe(0);
    const out = printed(second.stdout.text());
    expect(out).toHaveLength(25);
    // All 25 had their jti fixed by the dead run (20 of them also reached the queue): every
    // line goes again with its first token, none is signed anew.
    expect(out.every((l) => l.resent)).toBe(true);
    expect(second.stderr.text()).toMatch(/25 sent again with their first token/);
    // The queue's dedup absorbed the 20 copies: one message per line, with the printed jtis.
    const received: string[] = [];
    for (;;) {
      const got = await queue.receive({ max: 10, waitMs: 0 });
      if (got.length === 0) break;
      for (const m of got) {
        received.push(m.body.split('.')[1]!);
        await queue.delete(m.receiptHandle);
      }
    }
    const jtis = received.map(
      (p) => (JSON.parse(Buffer.from(p, 'base64url').toString()) as { jti: string }).jti,
    );
    expect(jtis.sort()).toEqual(out.map((l) => l.jti).sort());

    // A third run of the same file sends nothing and prints the same answers.
    const third = runOn(queue, clock);
    expect(await requestSubmitCommand({ file: 'orders.ndjson' }, third.io)).toBe(0);
    const replayed = printed(third.stdout.text());
    expect(replayed.every((l) => l.replayed)).toBe(true);
    expect(replayed.map((l) => l.jti)).toEqual(out.map((l) => l.jti));
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
    await queue.close();
    await real.close();
  });

  it('--idempotency-key names a run (another key submits the same file again); a bad key is a usage error', async () => {
    const first = io(lines);
    expect(await requestSubmitCommand({ file: 'x', idempotencyKey: 'run-a' }, first.io)).toBe(0);
    const again = io(lines);
    expect(await requestSubmitCommand({ file: 'x', idempotencyKey: 'run-a' }, again.io)).toBe(0);
    expect(again.stderr.text()).toMatch(/25 already submitted by an earlier run/);
    const other = io(lines);
    expect(await requestSubmitCommand({ file: 'x', idempotencyKey: 'run-b' }, other.io)).toBe(0);
    expect(printed(other.stdout.text()).some((l) => l.replayed)).toBe(false);
    await expect(
      requestSubmitCommand({ file: 'x', idempotencyKey: 'has space' }, io(lines).io),
    ).rejects.toThrow(/--idempotency-key/);
  });
});
