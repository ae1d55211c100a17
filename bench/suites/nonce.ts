// Nonce store speed: claim + complete (the two writes every message costs) per second, on
// SQLite and on DynamoDB (moto, when AWS_ENDPOINT_URL is set). Ceilings, measured in the same
// run: a raw better-sqlite3 single-row INSERT (same file settings, one transaction per insert)
// for SQLite, a raw PutItem to the same endpoint for DynamoDB. claim+complete is at least two
// writes (complete is a transaction over two rows), so a ratio near 0.5 is the honest best.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import Database from 'better-sqlite3';
import {
  createDynamoNonceStore,
  createDynamoNonceTable,
  createSqliteNonceStore,
} from '@countersign/replay-guard';
import type { NonceStore } from '@countersign/replay-guard';
import { GENESIS_PREV, newJti } from '@countersign/contracts';
import { benchCase, interleaved, rssMb } from '../lib.ts';
import type { BenchCase } from '../lib.ts';

/** Shown with the results (bench/run.ts prints it beside the table). */
export const notes =
  'claim+complete costs two SQLite transactions (claim; complete = nonce row + chain head), so ' +
  'about 0.5 of the single-INSERT ceiling is the best possible. The DynamoDB case runs only when ' +
  'AWS_ENDPOINT_URL points at moto (or AWS); moto is an emulator, so that ratio says how much ' +
  'claim+complete (PutItem + a two-item TransactWriteItems) costs against one PutItem, not what ' +
  'DynamoDB would do.';

const HASH = 'h'.repeat(43);

async function claimComplete(store: NonceStore, stream: string, i: number, now: number) {
  const key = `bench#${newJti()}`; // time-ordered, as the requester makes them
  const claim = await store.claim(key, {
    expiresAt: now + 330_000,
    leaseMs: 30_000,
    owner: 'bench',
    now,
  });
  if (!claim.claimed) throw new Error('bench claim lost: keys must be unique');
  await store.complete(key, {
    owner: 'bench',
    stored: { receipt: 'a.b.c', request: 'd.e.f', messageId: `m${i}` },
    head: { stream, seq: i + 1, hash: HASH },
    prev: i === 0 ? GENESIS_PREV : HASH,
    expiresAt: now + 330_000,
  });
}

async function sqliteCase(quick: boolean): Promise<BenchCase> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-nonce-'));
  try {
    // Ceiling: the same pragmas as the store, one autocommit INSERT per op.
    const raw = new Database(join(dir, 'raw.db'));
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.exec('CREATE TABLE t (key TEXT PRIMARY KEY, v TEXT NOT NULL)');
    const insert = raw.prepare('INSERT INTO t (key, v) VALUES (?, ?)');
    const store = createSqliteNonceStore({ path: join(dir, 'nonces.db') });
    const now = Date.now();
    let rawN = 0;
    let seq = 0;
    const m = await interleaved(
      [
        { name: 'raw', op: () => insert.run(`k${rawN++}`, 'IN_PROGRESS') },
        { name: 'store', op: () => claimComplete(store, 'bench/0', seq++, now) },
      ],
      { rounds: quick ? 3 : 7, roundMs: quick ? 600 : 1500, concurrency: 1 },
    );
    raw.close();
    await store.close();
    return {
      ...benchCase('nonce claim+complete, SQLite', m.get('store')!, m.get('raw')!.opsPerSec),
      rssMb: rssMb(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function dynamoCase(quick: boolean): Promise<BenchCase | undefined> {
  const name = 'nonce claim+complete, DynamoDB (moto)';
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) {
    console.log(`${name}: skipped, AWS_ENDPOINT_URL is not set (point it at moto to run it)`);
    return undefined;
  }
  const client = new DynamoDBClient({
    endpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const tableName = `bench-nonces-${randomBytes(4).toString('hex')}`;
  await createDynamoNonceTable(client, tableName);
  const store = createDynamoNonceStore({ client, tableName });
  const now = Date.now();
  let rawN = 0;
  let seq = 0;
  // Short rounds: moto answers a few hundred calls/s, and emulator workloads stay small.
  const m = await interleaved(
    [
      {
        name: 'raw',
        op: () =>
          client.send(
            new PutItemCommand({
              TableName: tableName,
              Item: { pk: { S: `raw#${rawN++}` }, state: { S: 'IN_PROGRESS' } },
            }),
          ),
      },
      { name: 'store', op: () => claimComplete(store, 'bench/0', seq++, now) },
    ],
    { rounds: 3, roundMs: quick ? 500 : 1000, concurrency: 1 },
  );
  client.destroy();
  return benchCase(name, m.get('store')!, m.get('raw')!.opsPerSec);
}

export async function run(opts: { readonly quick: boolean }): Promise<BenchCase[]> {
  const cases = [await sqliteCase(opts.quick)];
  const dynamo = await dynamoCase(opts.quick);
  if (dynamo) cases.push(dynamo);
  return cases;
}
