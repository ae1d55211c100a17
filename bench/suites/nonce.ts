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

/** One row of bench/results/<suite>.json (DESIGN.md §8a); `note` explains a skipped case. */
export interface BenchCase {
  readonly name: string;
  readonly opsPerSec: number;
  readonly ceilingOpsPerSec: number;
  readonly ratio: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly rssMb?: number;
  readonly note?: string;
}

const HASH = 'h'.repeat(43);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `op` until `ms` passed or `maxOps` ran; ops/s and latency percentiles. */
async function measure(
  ms: number,
  maxOps: number,
  op: (i: number) => Promise<void> | void,
): Promise<{ opsPerSec: number; p50Ms: number; p99Ms: number }> {
  const lat: number[] = [];
  const start = performance.now();
  const end = start + ms;
  let i = 0;
  while (i < maxOps && performance.now() < end) {
    const t = performance.now();
    await op(i++);
    lat.push(performance.now() - t);
  }
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { opsPerSec: i / elapsed, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
}

async function claimComplete(store: NonceStore, stream: string, i: number, now: number) {
  const key = `bench#${randomBytes(16).toString('base64url')}`;
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
    expiresAt: now + 330_000,
  });
}

async function sqliteCase(quick: boolean): Promise<BenchCase> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-nonce-'));
  try {
    const ms = quick ? 1500 : 5000;
    // Ceiling: the same pragmas as the store, one autocommit INSERT per op.
    const raw = new Database(join(dir, 'raw.db'));
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.exec('CREATE TABLE t (key TEXT PRIMARY KEY, v TEXT NOT NULL)');
    const insert = raw.prepare('INSERT INTO t (key, v) VALUES (?, ?)');
    const ceiling = await measure(ms, Number.MAX_SAFE_INTEGER, (i) => {
      insert.run(`k${i}-${randomBytes(8).toString('hex')}`, 'IN_PROGRESS');
    });
    raw.close();

    const store = createSqliteNonceStore({ path: join(dir, 'nonces.db') });
    const now = Date.now();
    const r = await measure(ms, Number.MAX_SAFE_INTEGER, (i) =>
      claimComplete(store, 'bench/0', i, now),
    );
    await store.close();
    return {
      name: 'nonce claim+complete, SQLite',
      opsPerSec: r.opsPerSec,
      ceilingOpsPerSec: ceiling.opsPerSec,
      ratio: r.opsPerSec / ceiling.opsPerSec,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      rssMb: process.memoryUsage().rss / 2 ** 20,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function dynamoCase(quick: boolean): Promise<BenchCase> {
  const name = 'nonce claim+complete, DynamoDB (moto)';
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) {
    return {
      name,
      opsPerSec: 0,
      ceilingOpsPerSec: 0,
      ratio: 0,
      note: 'skipped: AWS_ENDPOINT_URL is not set (start moto and point it there to run this case)',
    };
  }
  const client = new DynamoDBClient({
    endpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const tableName = `bench-nonces-${randomBytes(4).toString('hex')}`;
  await createDynamoNonceTable(client, tableName);
  const ms = quick ? 3000 : 10_000;
  const maxOps = quick ? 300 : 1000;
  const ceiling = await measure(ms, maxOps, async (i) => {
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: `raw#${i}-${randomBytes(8).toString('hex')}` },
          state: { S: 'IN_PROGRESS' },
        },
      }),
    );
  });
  const store = createDynamoNonceStore({ client, tableName });
  const now = Date.now();
  const r = await measure(ms, maxOps, (i) => claimComplete(store, 'bench/0', i, now));
  client.destroy();
  return {
    name,
    opsPerSec: r.opsPerSec,
    ceilingOpsPerSec: ceiling.opsPerSec,
    ratio: r.opsPerSec / ceiling.opsPerSec,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
  };
}

export async function run(opts: { readonly quick: boolean }): Promise<BenchCase[]> {
  return [await sqliteCase(opts.quick), await dynamoCase(opts.quick)];
}

// Run directly: `npx tsx bench/suites/nonce.ts [--quick]`.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const cases = await run({ quick: process.argv.includes('--quick') });
  console.log('| case | ops/s | ceiling ops/s | ratio | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const c of cases) {
    console.log(
      `| ${c.name} | ${c.opsPerSec.toFixed(0)} | ${c.ceilingOpsPerSec.toFixed(0)} | ${c.ratio.toFixed(2)} | ${c.p50Ms?.toFixed(3) ?? ''} | ${c.p99Ms?.toFixed(3) ?? ''} |${c.note ? ` ${c.note}` : ''}`,
    );
  }
}
