// audit: receipts/s verified in an embedded-archive replay (receipt + request signature each,
// plus hashing, schema, chain and policy checks) against the raw crypto ceiling (two
// crypto.verify per receipt on the same tokens and keys), measured in interleaved rounds of the
// same run; and the peak RSS of a large replay (1,000,000 receipts; 50,000 with --quick) to
// show memory stays bounded (streaming: the per-receipt state is 37 bytes in typed arrays).
//
// Every receipt answers its own signed request: the audit reports a request answered twice
// (ANSWERED_TWICE), so a reused request token would make the replay unclean.
import { createPublicKey, verify as cryptoVerify, type JsonWebKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReceiptEventDetail } from '@countersign/contracts';
import { cryptoKeyOptions } from '@countersign/signing';
import { createSqliteEventBus, type SqliteEventBus } from '@countersign/transport';
import { staticKeys } from '@countersign/verifier';
import {
  createAuditor,
  createAuditVerifiers,
  createSyntheticKit,
  replayEmbeddedArchive,
  type SyntheticKit,
} from '@countersign/audit';
import { cryptoCeiling, rssMb, withFloor, type BenchCase } from '../lib.ts';
import { replayFloor } from '../floors/audit.ts';

export type { BenchCase };

export const notes = [
  'Subject: `replayEmbeddedArchive` + `createAuditor` over the embedded SQLite archive: batches',
  'of 64 receipts are verified at once (thread pool, both cores) and applied in archive order;',
  'per receipt the receipt JWS and the request JWS are verified (@countersign/verifier, all',
  'checks), req.sha256 and the receipt hash computed, the chain table updated, policy checked.',
  'Ceiling: two raw `crypto.verify` per receipt (receipt + request) on the same tokens and keys,',
  'from memory (no archive read), on one thread; rounds are interleaved, medians reported. The',
  'second row divides the same throughput by two verifies per receipt on every core',
  '(worker_threads), the limit for a replay that uses the whole machine.',
  'Large replay: receipts generated in chunks straight into the SQLite archive (every receipt',
  'and its request signed), then replayed; RSS sampled every 1,000 events.',
  "The large replay's ceiling is the mean of the ceilings measured before and right after it. ES256.",
  'Floor: bench/floors/audit.ts over the same archive file (keyset pages, both verifies on the',
  'thread pool 128 receipts ahead, then request hash, chain and executed-once checks in order),',
  'in the same interleaved rounds; the large replay is followed by one floor run over it.',
].join('\n');

const START = Math.floor(Date.now() / 1000) - 2_000_000;
const clock = { now: () => (START + 2_000_000) * 1000 };

interface Fixture {
  readonly kit: SyntheticKit;
  readonly dir: string;
  readonly bus: SqliteEventBus;
  readonly count: number;
}

async function generate(count: number, sample: ReceiptEventDetail[] = []): Promise<Fixture> {
  const kit = await createSyntheticKit({
    gatewayId: 'gw-bench',
    requesterId: 'req-bench',
    startTime: START,
    partitions: 4,
    policy: { version: 'b'.repeat(43), maxNotional: '1000000' },
  });
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-audit-'));
  const bus = createSqliteEventBus({ path: join(dir, 'bus.sqlite'), clock });
  const chunk: ReceiptEventDetail[] = [];
  for (let i = 0; i < count; i++) {
    const e = await kit.gateway.emit({ account: `acct-${i % 16}`, iat: START + 1 + (i >> 1) });
    chunk.push(e.detail);
    if (sample.length < 2000) sample.push(e.detail);
    if (chunk.length === 1000) await bus.publish(chunk.splice(0));
  }
  if (chunk.length) await bus.publish(chunk);
  return { kit, dir, bus, count };
}

function auditorFor(kit: SyntheticKit) {
  return createAuditor({
    verifiers: createAuditVerifiers({
      gatewayKeys: staticKeys(kit.gatewayJwks),
      requesterKeys: staticKeys(kit.requesterJwks),
      gateways: ['gw-bench'],
      requesters: ['req-bench'],
      clock,
    }),
    clockSkewSec: 30,
    clock,
  });
}

/** Replays the whole archive; returns receipts/s and the peak RSS seen. */
async function replay(f: Fixture): Promise<{ opsPerSec: number; peakRss: number }> {
  const auditor = auditorFor(f.kit);
  let peakRss = rssMb();
  const t = performance.now();
  const n = await replayEmbeddedArchive({
    archive: f.bus,
    auditor,
    onProgress: () => (peakRss = Math.max(peakRss, rssMb())),
  });
  const secs = (performance.now() - t) / 1000;
  const report = auditor.finish({ kind: 'embedded-archive', from: null, to: null, gateway: null });
  if (!report.clean || report.summary.receipts !== f.count || n !== f.count) {
    throw new Error(`bench replay is not clean: ${JSON.stringify(report.summary.findingsByCode)}`);
  }
  return { opsPerSec: n / secs, peakRss: Math.max(peakRss, rssMb()) };
}

interface RawToken {
  readonly data: Buffer;
  readonly sig: Buffer;
}

function rawParts(token: string): RawToken {
  const d2 = token.lastIndexOf('.');
  return {
    data: Buffer.from(token.slice(0, d2), 'latin1'),
    sig: Buffer.from(token.slice(d2 + 1), 'base64url'),
  };
}

/** The least any auditor must do: two signature checks per receipt. */
function ceiling(sample: readonly ReceiptEventDetail[], kit: SyntheticKit, count: number): number {
  const gw = cryptoKeyOptions(createPublicKey(toKey(kit.gatewaySigner.publicJwk)), 'ES256');
  const rq = cryptoKeyOptions(createPublicKey(toKey(kit.requesterSigner.publicJwk)), 'ES256');
  const t = performance.now();
  for (let i = 0; i < count; i++) {
    // Split and decode each time, as a verifier must: tokens come as strings.
    const d = sample[i % sample.length]!;
    const r = rawParts(d.receipt);
    const q = rawParts(d.request!);
    if (!cryptoVerify('sha256', r.data, gw, r.sig) || !cryptoVerify('sha256', q.data, rq, q.sig)) {
      throw new Error('ceiling: a signature did not verify');
    }
  }
  return count / ((performance.now() - t) / 1000);
}

/** The same-work floor (bench/floors/audit.ts) over the same archive file. */
async function floor(f: Fixture): Promise<number> {
  const res = await replayFloor({
    busPath: join(f.dir, 'bus.sqlite'),
    gatewayKey: createPublicKey(toKey(f.kit.gatewaySigner.publicJwk)),
    requesterKey: createPublicKey(toKey(f.kit.requesterSigner.publicJwk)),
  });
  if (res.receipts !== f.count) throw new Error(`floor replayed ${res.receipts} of ${f.count}`);
  return res.opsPerSec;
}

function toKey(jwk: object): { key: JsonWebKey; format: 'jwk' } {
  return { key: jwk as JsonWebKey, format: 'jwk' };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[(s.length >> 1) - 1]! + s[s.length >> 1]!) / 2;
}

async function cleanup(f: Fixture): Promise<void> {
  await f.bus.close();
  rmSync(f.dir, { recursive: true, force: true });
}

export async function run({ quick }: { quick: boolean }): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  // 1. Throughput, interleaved with the ceiling.
  const sample: ReceiptEventDetail[] = [];
  const small = await generate(quick ? 2_000 : 20_000, sample);
  // Ceilings measured around the first replay; the long replay reuses their median.
  const ceilings: number[] = [];
  try {
    const rounds = quick ? 3 : 5;
    const subject: number[] = [];
    const ceil: number[] = [];
    const rss: number[] = [];
    const floors: number[] = [];
    await replay(small); // warm-up
    await floor(small);
    ceiling(sample, small.kit, 1000);
    for (let r = 0; r < rounds; r++) {
      const res = await replay(small);
      subject.push(res.opsPerSec);
      rss.push(res.peakRss);
      ceil.push(ceiling(sample, small.kit, small.count));
      floors.push(await floor(small));
    }
    const floorOps = median(floors);
    const ceilingOps = median(ceil);
    ceilings.push(ceilingOps);
    const ops = median(subject);
    cases.push(
      withFloor(
        {
          name: `replay ${small.count.toLocaleString('en-US')} receipts (2 verifies each), ES256`,
          opsPerSec: Math.round(ops),
          ceilingOpsPerSec: Math.round(ceilingOps),
          ratio: Number((ops / ceilingOps).toFixed(3)),
          rssMb: Math.max(...rss),
        },
        floorOps,
      ),
    );
    // The replay verifies batches on the thread pool, so it also uses the second core: the
    // same figure against two verifies per receipt on every core.
    const sampleToken = sample[0]!.receipt;
    const allCores = await cryptoCeiling({
      signs: 0,
      verifies: 2,
      signingInput: sampleToken.slice(0, sampleToken.lastIndexOf('.')),
      ms: quick ? 1500 : 3000,
    });
    cases.push(
      withFloor(
        {
          name: `replay ${small.count.toLocaleString('en-US')} receipts, against the ceiling on every core`,
          opsPerSec: Math.round(ops),
          ceilingOpsPerSec: Math.round(allCores),
          ratio: Number((ops / allCores).toFixed(3)),
        },
        floorOps,
      ),
    );
  } finally {
    await cleanup(small);
  }

  // 2. A large replay: memory must stay bounded while the archive streams through.
  const bigCount = quick ? 50_000 : 1_000_000;
  const genStart = performance.now();
  const big = await generate(bigCount);
  try {
    const genSecs = (performance.now() - genStart) / 1000;
    const before = rssMb();
    const res = await replay(big);
    // The long replay sees the machine's load drift: its ceiling is the mean of the ceiling
    // measured before it (above) and right after it.
    const bigCeiling = ((ceilings[0] ?? 0) + ceiling(sample, small.kit, small.count)) / 2;
    const bigFloor = await floor(big);
    cases.push(
      withFloor(
        {
          name: `replay ${bigCount.toLocaleString('en-US')} receipts: peak RSS (generated in ${genSecs.toFixed(0)} s; RSS ${before} MB before replay)`,
          opsPerSec: Math.round(res.opsPerSec),
          ceilingOpsPerSec: Math.round(bigCeiling),
          ratio: Number((res.opsPerSec / bigCeiling).toFixed(3)),
          rssMb: res.peakRss,
        },
        bigFloor,
      ),
    );
  } finally {
    await cleanup(big);
  }
  return cases;
}
