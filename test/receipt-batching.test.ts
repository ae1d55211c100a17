// Receipt batching in the embedded runtime (issue #20): `countersign start` with
// COUNTERSIGN_RECEIPT_BATCHING=on, audited clean by the real CLI, with fewer receipt signatures
// than receipts; then one batched receipt edited in the archive (its proof no longer leads to
// the signed root) and one batch's first item dropped: the audit finds both.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuditReport, canonicalJson, embeddedPaths } from '@countersign/contracts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const CLI = join(ROOT, 'bin/countersign.mjs');

function cli(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, COUNTERSIGN_LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

interface Row {
  readonly id: number;
  readonly detail: Record<string, unknown> & { receipt: string };
}

function rows(data: string): Row[] {
  const db = new Database(embeddedPaths(data).busDb, { readonly: true });
  const all = db.prepare('SELECT id, detail FROM bus_events ORDER BY id').all() as {
    id: number;
    detail: string;
  }[];
  db.close();
  return all.map((r) => ({ id: r.id, detail: JSON.parse(r.detail) as Row['detail'] }));
}

function update(data: string, sql: string, ...args: unknown[]): void {
  const db = new Database(embeddedPaths(data).busDb);
  db.prepare(sql).run(...args);
  db.close();
}

async function audit(data: string) {
  const run = await cli(['audit', 'replay', '--format', 'json'], { COUNTERSIGN_DATA_DIR: data });
  if (run.code !== 0 && run.code !== 3) throw new Error(`audit failed: ${run.stderr}`);
  const report = AuditReport.parse(JSON.parse(run.stdout));
  return { code: run.code, codes: [...new Set(report.findings.map((f) => f.code))].sort(), report };
}

type Item = Record<string, unknown> & { batch: string; index: number; seq: number };
let base: string;
let items: { row: Row; item: Item }[];

beforeAll(async () => {
  base = join(mkdtempSync(join(tmpdir(), 'receipt-batching-')), 'data');
  const run = await cli(['start', '--count', '200', '--data-dir', base, '--json'], {
    COUNTERSIGN_HTTP_PORT: '0',
    COUNTERSIGN_RECEIPT_BATCHING: 'on',
  });
  expect(run.code, run.stderr).toBe(0);
  expect((JSON.parse(run.stdout) as { ok: boolean }).ok).toBe(true);
  items = rows(base).map((row) => ({ row, item: JSON.parse(row.detail.receipt) as Item }));
}, 180_000);

function copy(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'receipt-batching-case-')), 'data');
  cpSync(base, dir, { recursive: true });
  return dir;
}

describe('receipt batching, embedded', () => {
  it('every receipt is a batch item; fewer heads than receipts; the audit is clean', async () => {
    expect(items.length).toBeGreaterThan(200);
    expect(items.every(({ row }) => row.detail.receipt.startsWith('{'))).toBe(true);
    const heads = new Set(items.map(({ item }) => item.batch));
    expect(heads.size).toBeLessThan(items.length);
    const r = await audit(copy());
    expect(r.codes).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.report.summary.receipts).toBe(items.length);
  });

  it('one item edited in the archive (canonical, same proof): BAD_RECEIPT_SIGNATURE, exit 3', async () => {
    const data = copy();
    const { row, item } = items[Math.floor(items.length / 2)]!;
    const edited = canonicalJson({ ...item, messageId: 'forged-message-id' });
    update(
      data,
      'UPDATE bus_events SET detail = ? WHERE id = ?',
      JSON.stringify({ ...row.detail, receipt: edited }),
      row.id,
    );
    const r = await audit(data);
    expect(r.code).toBe(3);
    expect(r.codes).toContain('BAD_RECEIPT_SIGNATURE');
    const found = r.report.findings.find((f) => f.code === 'BAD_RECEIPT_SIGNATURE');
    expect(found).toMatchObject({ verifierCode: 'BATCH_ROOT_MISMATCH', seq: item.seq });
  });

  it('the first item of a batch deleted (its batch still proves the rest): SEQ_GAP, exit 3', async () => {
    const data = copy();
    const size = (batch: string) => items.filter((o) => o.item.batch === batch).length;
    const victim = items.find(({ item }) => item.index === 0 && size(item.batch) > 1)!;
    update(data, 'DELETE FROM bus_events WHERE id = ?', victim.row.id);
    const r = await audit(data);
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['SEQ_GAP']);
  });

  it('the tail cut inside a batch, checkpoints and audit state deleted: the head still names its last seq, TAIL_TRUNCATED', async () => {
    const data = copy();
    const size = (batch: string) => items.filter((o) => o.item.batch === batch).length;
    // The last batch of more than one item: keep its first item, cut from its last one on.
    const last = items.findLast(({ item }) => item.index > 0 && size(item.batch) > 1)!;
    for (const { row, item } of items) {
      if (item.seq >= last.item.seq) update(data, 'DELETE FROM bus_events WHERE id = ?', row.id);
    }
    const paths = embeddedPaths(data);
    rmSync(paths.checkpointsDir, { recursive: true, force: true });
    rmSync(paths.auditState, { force: true });
    const r = await audit(data);
    expect(r.code).toBe(3);
    expect(r.codes).toEqual(['TAIL_TRUNCATED']);
    const found = r.report.findings.find((f) => f.code === 'TAIL_TRUNCATED');
    expect(found).toMatchObject({ seq: last.item.seq });
  });
});
