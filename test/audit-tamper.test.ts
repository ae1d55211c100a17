// Issue 14, every reproduced gap as an attacker with write access to the data directory would
// try it: a real run of the pipeline (`countersign start`, 1,000 orders, the gateway's
// checkpoints mirrored to a second directory, the demo's own audit leaving its memory), copied
// once per case, tampered with once, then audited by the real CLI (`countersign audit replay`,
// a child process): exit code 3 and the finding each case must raise. A kill -9 of a separate
// `countersign gateway` process covers the tail a crash leaves after the last checkpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AuditReport,
  CheckpointClaims,
  canonicalJson,
  receiptChainHash,
  sha256B64u,
  CHECKPOINT_MIRROR_FILE,
  embeddedPaths,
  type FindingCode,
} from '@countersign/contracts';
import { createSqliteCheckpointLog } from '@countersign/exchange-gateway';
import { orderToken } from '@countersign/exchange-gateway/testing';
import { ensureLocalSigner } from '@countersign/signing';
import { createSqliteQueue } from '@countersign/transport';
import { decodeUnverified } from '@countersign/verifier';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const CLI = join(ROOT, 'bin/countersign.mjs');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: readonly string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, COUNTERSIGN_LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function cli(args: readonly string[], env: Record<string, string>): Promise<Run> {
  const child = start(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ── The attacker's tools: SQLite opened directly, as anyone who can write the files can ──────

/** seq of each receipt event, by bus row id. */
function events(data: string): { id: number; seq: number; detail: Record<string, unknown> }[] {
  const db = new Database(embeddedPaths(data).busDb, { readonly: true });
  const rows = db.prepare('SELECT id, detail FROM bus_events ORDER BY id').all() as {
    id: number;
    detail: string;
  }[];
  db.close();
  return rows.map((r) => {
    const detail = JSON.parse(r.detail) as Record<string, unknown>;
    return { id: r.id, seq: decodeUnverified(String(detail.receipt))!.seq as number, detail };
  });
}

function deleteReceipts(data: string, which: (seq: number) => boolean): number {
  const db = new Database(embeddedPaths(data).busDb);
  const del = db.prepare('DELETE FROM bus_events WHERE id = ?');
  let n = 0;
  for (const e of events(data)) if (which(e.seq)) n += del.run(e.id).changes;
  db.close();
  return n;
}

function editReceiptEvent(
  data: string,
  seq: number,
  edit: (detail: Record<string, unknown>) => Record<string, unknown>,
): void {
  const e = events(data).find((x) => x.seq === seq)!;
  const db = new Database(embeddedPaths(data).busDb);
  db.prepare('UPDATE bus_events SET detail = ? WHERE id = ?').run(
    JSON.stringify(edit(e.detail)),
    e.id,
  );
  db.close();
}

/** Every checkpoint in the log, oldest first (claims read unverified). */
function checkpoints(data: string): CheckpointClaims[] {
  const db = new Database(embeddedPaths(data).checkpointLog, { readonly: true });
  const rows = db.prepare('SELECT token FROM checkpoints ORDER BY idx').all() as {
    token: string;
  }[];
  db.close();
  return rows.map((r) => CheckpointClaims.parse(decodeUnverified(r.token)));
}

/** Rolls the append-only log back: the attacker drops the trigger first. */
function rollBackCheckpoints(data: string, keep: number): void {
  const db = new Database(embeddedPaths(data).checkpointLog);
  db.exec('DROP TRIGGER checkpoints_no_delete');
  db.prepare('DELETE FROM checkpoints WHERE idx > ?').run(keep);
  db.close();
}

// ── The real run, and one copy per case ───────────────────────────────────────────────────────

let base: string;
let receipts: number;

interface Case {
  readonly data: string;
  readonly mirror: string;
}

function copy(options: { keepState?: boolean } = {}): Case {
  const dir = mkdtempSync(join(tmpdir(), 'tamper-'));
  cpSync(base, dir, { recursive: true });
  const c = { data: join(dir, 'data'), mirror: join(dir, 'mirror') };
  if (!options.keepState) rmSync(embeddedPaths(c.data).auditState);
  // `start` kept the base's mirror in the data directory's config.jsonc: a case audits with
  // the mirror only when it asks for it (and then its own copy).
  const config = join(c.data, 'config.jsonc');
  writeFileSync(
    config,
    readFileSync(config, 'utf8').replace(/^(\s*)"mirror": .*$/m, '$1// "mirror": not set'),
  );
  return c;
}

async function audit(
  c: Case,
  options: { mirror?: boolean; args?: readonly string[] } = {},
): Promise<{ code: number | null; report: AuditReport; codes: FindingCode[]; stderr: string }> {
  const run = await cli(['audit', 'replay', '--format', 'json', ...(options.args ?? [])], {
    COUNTERSIGN_DATA_DIR: c.data,
    ...(options.mirror ? { COUNTERSIGN_CHECKPOINT_MIRROR: c.mirror } : {}),
  });
  if (run.code !== 0 && run.code !== 3) throw new Error(`audit failed: ${run.stderr}`);
  const report = AuditReport.parse(JSON.parse(run.stdout));
  const codes = [...new Set(report.findings.map((f) => f.code))].sort();
  return { code: run.code, report, codes, stderr: run.stderr };
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tamper-base-'));
  base = dir;
  const run = await cli(['start', '--count', '1000', '--data-dir', join(dir, 'data'), '--json'], {
    COUNTERSIGN_HTTP_PORT: '0',
    COUNTERSIGN_CHECKPOINT_EVERY: '200',
    COUNTERSIGN_CHECKPOINT_MIRROR: join(dir, 'mirror'),
  });
  expect(run.code, run.stderr).toBe(0);
  const summary = JSON.parse(run.stdout) as { receipts: { total: number }; ok: boolean };
  expect(summary.ok).toBe(true);
  receipts = summary.receipts.total;
  expect(receipts).toBeGreaterThan(1000);
  expect(checkpoints(join(dir, 'data')).length).toBeGreaterThanOrEqual(5);
}, 180_000);

describe('the untampered run', () => {
  it('is clean, proven from genesis to its last receipt, with or without the mirror', async () => {
    const c = copy({ keepState: true });
    const { code, report } = await audit(c, { mirror: true });
    expect(code).toBe(0);
    expect(report.summary.receipts).toBe(receipts);
    expect(report.summary.streams[0]!.proof).toMatchObject({
      start: 'genesis',
      startSeq: 1,
      endSeq: receipts,
      unconfirmed: 0,
    });
    expect(report.memory?.loaded).not.toBeNull(); // the demo's own audit remembered it
    expect(report.notes ?? []).not.toContainEqual(expect.stringContaining('no checkpoint mirror'));
    // The log alone, nothing remembered: clean, with a note that a joint rollback is invisible.
    const alone = await audit(copy());
    expect(alone.code).toBe(0);
    expect(alone.report.notes).toContainEqual(
      expect.stringMatching(
        /^no checkpoint mirror and no remembered state for .*: a rollback of the checkpoint log together with the archive cannot be seen$/,
      ),
    );
  });
});

describe('1. head deletion', () => {
  // With the audit state present too: what a previous audit proved from genesis is not excused
  // (the embedded archive declares no retention).
  it.each([false, true])(
    'seq 1..10 deleted: SEQ_GAP, exit 3 (state file kept: %s)',
    async (keepState) => {
      const c = copy({ keepState });
      expect(deleteReceipts(c.data, (s) => s <= 10)).toBe(10);
      const r = await audit(c);
      expect(r.code).toBe(3);
      expect(r.codes).toEqual(['SEQ_GAP']);
      expect(r.report.findings[0]!.message).toBe('receipts 1..10 are missing (10)');
    },
  );

  it.each([false, true])(
    'all but the last 700 deleted: SEQ_GAP, exit 3 (state file kept: %s)',
    async (keepState) => {
      const c = copy({ keepState });
      const cut = receipts - 700;
      expect(deleteReceipts(c.data, (s) => s <= cut)).toBe(cut);
      const r = await audit(c);
      expect(r.code).toBe(3);
      expect(r.codes).toEqual(['SEQ_GAP']);
      expect(r.report.findings[0]!.message).toBe(`receipts 1..${cut} are missing (${cut})`);
    },
  );
  it('seq 1..10 deleted and the state file rewritten to name seq 11 as the first: SEQ_GAP, exit 3', async () => {
    // The digest has no secret: whoever can write the data directory can recompute it.
    const c = copy({ keepState: true });
    deleteReceipts(c.data, (s) => s <= 10);
    const file = embeddedPaths(c.data).auditState;
    const { digest: _, ...state } = JSON.parse(readFileSync(file, 'utf8')) as {
      digest: string;
      streams: Record<string, { genesis?: unknown }>;
    };
    const first = events(c.data).find((e) => e.seq === 11)!;
    for (const s of Object.values(state.streams)) {
      s.genesis = {
        seq: 11,
        head: receiptChainHash(String(first.detail.receipt)),
        iat: decodeUnverified(String(first.detail.receipt))!.iat,
      };
    }
    writeFileSync(file, JSON.stringify({ ...state, digest: sha256B64u(canonicalJson(state)) }));
    const r = await audit(c);
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['SEQ_GAP']);
    expect(r.report.findings[0]!.message).toBe('receipts 1..10 are missing (10)');
    expect(r.report.memory?.loaded).not.toBeNull(); // the forged state was accepted as such
  });
});

describe('2. tail deletion, checkpoint deletion and rollback', () => {
  it('the tail cut, checkpoint log intact: TAIL_TRUNCATED, exit 3', async () => {
    const c = copy();
    deleteReceipts(c.data, (s) => s > receipts - 30);
    const r = await audit(c);
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['TAIL_TRUNCATED']);
  });

  it('the tail and the whole checkpoint log deleted: the remembered state catches it', async () => {
    const c = copy({ keepState: true });
    deleteReceipts(c.data, (s) => s > receipts - 30);
    rmSync(embeddedPaths(c.data).checkpointLog);
    const r = await audit(c);
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['HISTORY_REWRITTEN', 'TAIL_TRUNCATED']);
  });

  it('an older checkpoint put back and the archive cut after it: the memory, or the mirror', async () => {
    const c = copy({ keepState: true });
    const first = checkpoints(c.data)[0]!;
    rollBackCheckpoints(c.data, 1);
    deleteReceipts(c.data, (s) => s > first.seq);
    const remembered = await audit(c);
    expect(remembered.code).toBe(3);
    expect(remembered.codes).toEqual(['HISTORY_REWRITTEN', 'TAIL_TRUNCATED']);
    // The same with the memory deleted too: the mirror on another disk still has the chain.
    const d = copy();
    rollBackCheckpoints(d.data, 1);
    deleteReceipts(d.data, (s) => s > first.seq);
    const mirrored = await audit(d, { mirror: true });
    expect(mirrored.code).toBe(3);
    expect(mirrored.codes).toEqual(['CHECKPOINT_CHAIN_BROKEN', 'TAIL_TRUNCATED']);
  });
});

describe('2b. the checkpoint mirror', () => {
  it('truncated or deleted with the log intact: CHECKPOINT_CHAIN_BROKEN, exit 3', async () => {
    const c = copy();
    const file = join(c.mirror, CHECKPOINT_MIRROR_FILE);
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    writeFileSync(file, `${lines.slice(0, 2).join('\n')}\n`);
    const truncated = await audit(c, { mirror: true });
    expect(truncated.code).toBe(3);
    expect(truncated.codes).toEqual(['CHECKPOINT_CHAIN_BROKEN']);
    expect(truncated.report.findings[0]!.message).toMatch(/not in the mirror$/);
    rmSync(file);
    const deleted = await audit(c, { mirror: true });
    expect(deleted.code).toBe(3);
    expect(deleted.codes).toEqual(['CHECKPOINT_CHAIN_BROKEN']);
  });
});

describe('3. everything deleted', () => {
  it('all events and the checkpoint log: STREAM_MISSING against the memory, or the mirror', async () => {
    for (const [keepState, mirror] of [
      [true, false],
      [false, true],
    ] as const) {
      const c = copy({ keepState });
      deleteReceipts(c.data, () => true);
      rmSync(embeddedPaths(c.data).checkpointLog);
      const r = await audit(c, { mirror });
      expect(r.code).toBe(3);
      expect(r.codes).toContain('STREAM_MISSING');
      expect(r.report.summary.receipts).toBe(0);
    }
  });
});

describe('4. windowed audits', () => {
  it('an empty window is clean (hourly cron): before the run, and after it', async () => {
    const c = copy();
    const hour = 3_600_000;
    for (const [from, to] of [
      [Date.now() - 3 * hour, Date.now() - 2 * hour],
      [Date.now() + hour, Date.now() + 2 * hour],
    ] as const) {
      const r = await audit(c, {
        args: ['--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()],
      });
      expect(r.code).toBe(0);
      expect(r.report.summary.receipts).toBe(0);
    }
  });

  it('a tail cut right after the stop, audited "now": the checkpoint signed at stop counts', async () => {
    const c = copy();
    deleteReceipts(c.data, (s) => s > receipts - 5);
    const r = await audit(c, {
      args: [
        '--from',
        new Date(Date.now() - 3_600_000).toISOString(),
        '--to',
        new Date().toISOString(),
      ],
    });
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['TAIL_TRUNCATED']);
  });
  it('a window with the state file kept: the first receipts deleted are still missing', async () => {
    // The state remembers where the last run ended; it must not stand in for the window's start.
    const c = copy({ keepState: true });
    deleteReceipts(c.data, (s) => s <= 5);
    const r = await audit(c, { args: ['--to', new Date().toISOString()] });
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['SEQ_GAP']);
    expect(r.report.findings[0]!.message).toBe('receipts 1..5 are missing (5)');
  });
});

describe('5. event fields bound to the receipt', () => {
  it("a REJECTED receipt's request nulled in the event: EVENT_MISMATCH", async () => {
    const c = copy();
    const rejected = events(c.data).find((e) => {
      const claims = decodeUnverified(String(e.detail.receipt));
      return claims?.outcome === 'REJECTED' && e.detail.request !== null;
    })!;
    editReceiptEvent(c.data, rejected.seq, (d) => ({ ...d, request: null }));
    const r = await audit(c);
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['EVENT_MISMATCH']);
    expect(r.report.findings[0]!.seq).toBe(rejected.seq);
  });

  it("the event's messageId changed: EVENT_MISMATCH", async () => {
    const c = copy();
    editReceiptEvent(c.data, 7, (d) => ({ ...d, messageId: 'someone-elses-message' }));
    const r = await audit(c);
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['EVENT_MISMATCH']);
  });
});

describe('arguments', () => {
  it('an unknown --gateway is a configuration error (exit 2)', async () => {
    const c = copy();
    const run = await cli(['audit', 'replay', '--gateway', 'not-ours'], {
      COUNTERSIGN_DATA_DIR: c.data,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      '--gateway: unknown gateway "not-ours": this audit trusts demo-gateway',
    );
  });
});

describe('2. a kill -9 after the last checkpoint', () => {
  const POLICY = JSON.stringify([
    {
      id: 'demo-requester',
      accounts: ['acct-1', 'acct-2'],
      symbols: ['BTC-USD'],
      maxNotional: '1000000',
    },
  ]);

  /** A data dir with `n` signed orders queued, and the env of its gateway. */
  async function queued(n: number, intervalSec: number) {
    const data = join(mkdtempSync(join(tmpdir(), 'tamper-kill-')), 'data');
    const paths = embeddedPaths(data);
    const requester = await ensureLocalSigner(paths.keysDir, 'requester', 'ES256');
    const queue = createSqliteQueue({
      path: paths.queueDb,
      visibilityTimeoutSec: 30,
      maxReceives: 5,
    });
    for (let i = 0; i < n; i += 50) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 50); j++) {
        const account = `acct-${(j % 2) + 1}`;
        const body = await orderToken(requester, {
          iss: 'demo-requester',
          sub: account,
          aud: 'demo-gateway',
          lifetimeSec: 300,
        });
        const jti = String(decodeUnverified(body)!.jti);
        batch.push({ body, groupId: account, dedupId: jti });
      }
      await queue.sendBatch(batch);
    }
    await queue.close();
    const env = {
      COUNTERSIGN_DATA_DIR: data,
      COUNTERSIGN_POLICIES: POLICY,
      COUNTERSIGN_CHECKPOINT_EVERY: '100',
      COUNTERSIGN_CHECKPOINT_INTERVAL_SEC: String(intervalSec),
    };
    return { data, env };
  }

  const newestSeq = (data: string) => {
    try {
      return checkpoints(data).at(-1)?.seq ?? 0;
    } catch {
      return 0; // not created yet
    }
  };
  const published = (data: string) => {
    try {
      return events(data).length;
    } catch {
      return 0;
    }
  };

  it('the interval checkpoint covers the receipts after checkpoint N: the cut tail shows', async () => {
    const { data, env } = await queued(150, 1);
    const gateway = start(['gateway'], env);
    await until('150 receipts', () => published(data) === 150);
    await until('the interval checkpoint at 150', () => newestSeq(data) === 150);
    gateway.kill('SIGKILL'); // no graceful stop, no final checkpoint
    await new Promise((r) => gateway.on('close', r));
    // The every-100 checkpoint (its head may be a receipt or two past the 100th).
    const everyHundred = checkpoints(data).find((c) => c.seq >= 100 && c.seq < 150)?.seq;
    expect(everyHundred).toBeDefined();
    deleteReceipts(data, (s) => s > everyHundred!);
    const r = await audit({ data, mirror: '' });
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['TAIL_TRUNCATED']);
  });

  it('killed before the interval: the restarted gateway checkpoints the tail it finds first', async () => {
    const { data, env } = await queued(150, 3600);
    const first = start(['gateway'], env);
    await until('150 receipts', () => published(data) === 150);
    first.kill('SIGKILL');
    await new Promise((r) => first.on('close', r));
    // Every 100 only: the tail after it is unprotected for now. The checkpoint signs the head
    // when it is taken, which may already be a receipt or two past the 100th.
    const before = newestSeq(data);
    expect(before).toBeGreaterThanOrEqual(100);
    expect(before).toBeLessThan(150);
    const second = start(['gateway'], env);
    await until('the start-up checkpoint at 150', () => newestSeq(data) === 150);
    second.kill('SIGTERM');
    await new Promise((r) => second.on('close', r));
    deleteReceipts(data, (s) => s > before);
    const r = await audit({ data, mirror: '' });
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['TAIL_TRUNCATED']);
  });
});

// Keep one helper honest: the log the tests read is the one the gateway writes.
it('reads the same checkpoints as the gateway adapter', async () => {
  const c = copy();
  const log = createSqliteCheckpointLog({ path: embeddedPaths(c.data).checkpointLog });
  const streams = await log.streams();
  const newest = (await log.recent(streams[0]!, 1))[0]!;
  await log.close();
  expect(CheckpointClaims.parse(decodeUnverified(newest.token))).toEqual(
    checkpoints(c.data).at(-1),
  );
});
