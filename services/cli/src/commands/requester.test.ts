import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { embeddedPaths, systemClock } from '@countersign/contracts';
import { createSqliteQueue } from '@countersign/transport';
import {
  createRequesterFromConfig,
  createSqliteIdempotencyStore,
  idempotencyDbPath,
} from '@countersign/requester';
import {
  keysGenerateCommand,
  keysJwksCommand,
  parseSubmitInput,
  register,
  requestSubmitCommand,
  type RequesterCommandIO,
} from './requester.ts';

const txn = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.5',
  limitPrice: '60000',
  timeInForce: 'GTC',
};

function sink(isTTY = false) {
  const chunks: string[] = [];
  return { isTTY, write: (t: string) => chunks.push(t), text: () => chunks.join('') };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-requester-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = undefined;
});

function io(input: string, env: Record<string, string> = {}) {
  const stdout = sink();
  const stderr = sink();
  const value: RequesterCommandIO = {
    env: { COUNTERSIGN_DATA_DIR: dir, ...env },
    stdout,
    stderr,
    readInput: () => Promise.resolve(input),
    createRequester: (config) => createRequesterFromConfig(config),
    openIdempotency: (config) =>
      createSqliteIdempotencyStore({ path: idempotencyDbPath(config), clock: systemClock }),
  };
  return { io: value, stdout, stderr };
}

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
    expect(t.stderr.text()).toMatch(/#1: REQUEST_INVALID \(txn\.side: .*txn\.quantity: /);
    expect(t.stderr.text()).toMatch(/submitted 1 of 2 requests.*1 failed/);
    expect(t.stdout.text().trim().split('\n')).toHaveLength(1);
  });

  it('submits nothing when the file is malformed', async () => {
    const t = io('{"account":"a","txn":{}}\nnope');
    expect(await requestSubmitCommand({ file: 'x' }, t.io)).toBe(1);
    expect(t.stderr.text()).toMatch(/line 2: not valid JSON/);
    expect(t.stdout.text()).toBe('');
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

describe('countersign keys', () => {
  it('generates a key once, refuses to overwrite it, and prints its JWKS', async () => {
    const gen = io('');
    expect(await keysGenerateCommand({ name: 'gateway', alg: 'ES384' }, gen.io)).toBe(0);
    const info = JSON.parse(gen.stdout.text()) as { kid: string; alg: string };
    expect(info.alg).toBe('ES384');
    await expect(keysGenerateCommand({ name: 'gateway' }, io('').io)).rejects.toMatchObject({
      code: 'KEY_EXISTS',
    });
    const jwks = io('');
    expect(await keysJwksCommand({ name: 'gateway' }, jwks.io)).toBe(0);
    const set = JSON.parse(jwks.stdout.text()) as {
      keys: { kid: string; alg: string; d?: string }[];
    };
    expect(set.keys).toEqual([expect.objectContaining({ kid: info.kid, alg: 'ES384' })]);
    expect(set.keys[0]!.d).toBeUndefined();
  });

  it('rejects an unknown key name or alg as a usage error (exit 2)', async () => {
    for (const args of [
      ['keys', 'generate', '--name', 'root'],
      ['keys', 'generate', '--alg', 'HS256'],
    ]) {
      const t = io('');
      const program = new Command('countersign').exitOverride();
      register(program, t.io);
      await program.parseAsync(['node', 'countersign', ...args]);
      expect(process.exitCode).toBe(2);
      process.exitCode = undefined;
    }
  });
});
