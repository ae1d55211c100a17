// Same-work floor of the whole embedded pipeline (DESIGN.md §8a), in one process, with no
// project code: the requester floor (HTTP, bench/floors/requester.ts) feeds the queue file, the
// gateway floor (bench/floors/gateway.ts) drains it, and a live audit tails the bus file.
//
// Live audit, per receipt: both verifies (receipt, request) on the thread pool, then in archive
// order the request hash and chain checks. Durable write: the audit's position (bus cursor and
// stream heads, audit.sqlite), once per applied batch, so a restart resumes where it stopped.
// Everything else is the two floors' own writes (see their headers).
//
// Load: `concurrency` keep-alive HTTP clients in the same process submit `count` orders over
// `accounts` accounts; either as fast as they are answered (closed loop: throughput), or at a
// fixed rate (open loop: latency at a given share of the throughput). Latency is per order,
// from the HTTP submit to its receipt applied by the audit.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { SAMPLE_TXN } from '../lib.ts';
import { openFloorDb, percentileOf, verifyEs256 } from './base.ts';
import { BUS_SCHEMA, createGatewayFloor } from './gateway.ts';
import { startRequesterFloor } from './requester.ts';

const AUDIT_SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_position (name TEXT PRIMARY KEY, value TEXT NOT NULL);`;
const GENESIS = 'A'.repeat(43);
const hashOf = (s: string) => createHash('sha256').update(s).digest('base64url');

interface ReceiptFields {
  readonly stream: string;
  readonly seq: number;
  readonly prev: string;
  readonly req: { readonly jti: string; readonly sha256: string };
}

/** The live audit: tails bus.sqlite, verifies, applies in order, saves its position. */
function createAuditTail(
  dir: string,
  keys: { gateway: KeyObject; requester: KeyObject },
  onAudited: (jti: string) => void,
) {
  const bus = openFloorDb(join(dir, 'bus.sqlite'), BUS_SCHEMA);
  const audit = openFloorDb(join(dir, 'audit.sqlite'), AUDIT_SCHEMA);
  const page = bus.prepare<[number], { id: number; detail: string }>(
    'SELECT id, detail FROM events WHERE id > ? ORDER BY id LIMIT 500',
  );
  const save = audit.prepare(
    `INSERT INTO audit_position (name, value) VALUES (?, ?)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
  );
  const heads = new Map<string, { seq: number; hash: string }>();
  let cursor = 0;
  let running = false;
  let pokes = 0; // pokes while a tail runs make it look again when done
  const tail = async (): Promise<void> => {
    pokes += 1;
    if (running) return;
    running = true;
    let seen = 0;
    try {
      for (
        let rows = page.all(cursor);
        rows.length > 0 || seen !== pokes;
        rows = page.all(cursor)
      ) {
        seen = pokes;
        if (rows.length === 0) continue;
        const checked = await Promise.all(
          rows.map(async (row) => {
            const d = JSON.parse(row.detail) as { receipt: string; request: string };
            const [r, q] = await Promise.all([
              verifyEs256(keys.gateway, d.receipt),
              verifyEs256(keys.requester, d.request),
            ]);
            if (!r || !q) throw new Error('floor: a signature did not verify');
            return { d, r: r as ReceiptFields };
          }),
        );
        const touched = new Set<string>();
        for (const { d, r } of checked) {
          if (r.req.sha256 !== hashOf(d.request)) throw new Error('floor: request hash mismatch');
          const head = heads.get(r.stream) ?? { seq: 0, hash: GENESIS };
          if (r.seq !== head.seq + 1 || r.prev !== head.hash) {
            throw new Error(`floor: chain broken at ${r.stream}#${r.seq}`);
          }
          heads.set(r.stream, { seq: r.seq, hash: hashOf(d.receipt) });
          touched.add(r.stream);
        }
        cursor = rows[rows.length - 1]!.id;
        audit.transaction(() => {
          save.run('cursor', String(cursor));
          for (const s of touched) save.run(`head:${s}`, JSON.stringify(heads.get(s)));
        })();
        for (const { r } of checked) onAudited(r.req.jti);
      }
    } finally {
      running = false;
    }
  };
  return {
    poke: () => void tail(),
    close: () => {
      bus.close();
      audit.close();
    },
  };
}

export interface PipelineFloorResult {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export async function runPipelineFloor(o: {
  readonly dir: string;
  readonly count: number;
  readonly concurrency: number;
  readonly accounts: readonly string[];
  readonly partitions: number;
  readonly gatewayConcurrency: number;
  /** Orders per second (open loop); absent: as fast as answered. */
  readonly ratePerSec?: number;
}): Promise<PipelineFloorResult> {
  const requesterPair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const gatewayPair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const apiKey = 'floor-key';
  const requester = await startRequesterFloor({
    dir: o.dir,
    signingKey: requesterPair.privateKey,
    issuer: 'floor-requester',
    audience: 'gw-floor',
    lifetimeSec: 60,
    apiKey: {
      name: 'floor',
      sha256: createHash('sha256').update(apiKey).digest('hex'),
      accounts: o.accounts,
    },
  });
  const submittedAt = new Map<string, number>();
  const latencies: number[] = [];
  let audited = 0;
  let allAudited: () => void = () => undefined;
  const finished = new Promise<void>((r) => (allAudited = r));
  const audit = createAuditTail(
    o.dir,
    { gateway: gatewayPair.publicKey, requester: requesterPair.publicKey },
    (jti) => {
      const t = submittedAt.get(jti);
      if (t !== undefined) {
        latencies.push(performance.now() - t);
        submittedAt.delete(jti);
      }
      if (++audited === o.count) allAudited();
    },
  );
  const gateway = createGatewayFloor({
    dir: o.dir,
    gatewayId: 'gw-floor',
    requesterKey: requesterPair.publicKey,
    gatewayKey: gatewayPair.privateKey,
    partitions: o.partitions,
    concurrency: o.gatewayConcurrency,
    onDone: audit.poke,
  });
  gateway.start();
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const url = new URL(requester.url);
  const txn = SAMPLE_TXN;
  const post = (account: string) =>
    new Promise<void>((ok, fail) => {
      const body = JSON.stringify({ account, txn });
      const t = performance.now();
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: '/v1/transactions',
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Bearer ${apiKey}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode !== 202) return fail(new Error(`floor HTTP ${res.statusCode}`));
            const { jti } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { jti: string };
            submittedAt.set(jti, t);
            ok();
          });
        },
      );
      req.on('error', fail);
      req.end(body);
    });
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (next < o.count) {
        const i = next++;
        if (o.ratePerSec !== undefined) {
          const due = start + (i / o.ratePerSec) * 1000;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        await post(o.accounts[i % o.accounts.length]!);
      }
    }),
  );
  await finished;
  const secs = (performance.now() - start) / 1000;
  agent.destroy();
  await requester.close();
  gateway.close();
  audit.close();
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: o.count / secs,
    p50Ms: percentileOf(latencies, 50),
    p99Ms: percentileOf(latencies, 99),
  };
}
