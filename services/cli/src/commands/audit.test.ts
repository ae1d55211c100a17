// `countersign audit replay` end to end in embedded mode: real key files, a real SQLite bus with
// receipts published into it, checkpoint files; asserts on exit codes and the report outputs.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditReport, embeddedPaths, loadConfig } from '@countersign/contracts';
import { createSqliteEventBus } from '@countersign/transport';
import { createSyntheticKit, type SyntheticKit } from '@countersign/audit';
import { createSqliteCheckpointLog } from '@countersign/exchange-gateway';
import {
  auditLiveCommand,
  auditReplayCommand,
  createAuditProgram,
  type AuditCommandIO,
} from './audit.ts';
import { createAuditFromConfig } from '@countersign/audit';

let dir: string;
let kit: SyntheticKit;
const env = () => ({
  COUNTERSIGN_DATA_DIR: dir,
  COUNTERSIGN_GATEWAY_ID: 'gw-1',
  COUNTERSIGN_REQUESTER_ID: 'req-1',
});

function capture() {
  const out = { stdout: '', stderr: '', files: new Map<string, string>() };
  const io: AuditCommandIO = {
    env: env(),
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
    createRuntime: (config) => createAuditFromConfig(config),
    writeFile: (path, data) => {
      out.files.set(path, data);
      return Promise.resolve();
    },
  };
  return { io, out };
}

async function publish(tamperSeq?: number): Promise<void> {
  const bus = createSqliteEventBus({ path: embeddedPaths(dir).busDb });
  const details = [];
  for (let i = 0; i < 12; i++) {
    const e = await kit.gateway.emit({ account: `acct-${i % 2}` });
    details.push(
      e.claims.seq === tamperSeq
        ? {
            ...e.detail,
            receipt: e.detail.receipt.replace(
              /\.(.)/,
              (_m, c: string) => `.${c === 'e' ? 'f' : 'e'}`,
            ),
          }
        : e.detail,
    );
  }
  await bus.publish(details);
  await bus.close();
  const log = createSqliteCheckpointLog({ path: embeddedPaths(dir).checkpointLog });
  await log.append('gw-1/0', { index: 1, token: await kit.gateway.checkpoint('gw-1/0') });
  await log.close();
}

const range = () => ({
  from: new Date(Date.now() - 60_000).toISOString(),
  to: new Date(Date.now() + 60_000).toISOString(),
});

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cs-audit-cli-'));
  kit = await createSyntheticKit({
    gatewayId: 'gw-1',
    requesterId: 'req-1',
    startTime: Math.floor(Date.now() / 1000) - 100,
    policy: { version: 'v'.repeat(43), maxNotional: '1000' },
  });
  const keys = embeddedPaths(dir).keysDir;
  mkdirSync(keys, { recursive: true });
  writeFileSync(join(keys, 'gateway.jwks.json'), JSON.stringify(kit.gatewayJwks));
  writeFileSync(join(keys, 'requester.jwks.json'), JSON.stringify(kit.requesterJwks));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('countersign audit replay', () => {
  it('exits 0 on a clean archive and prints the text summary', async () => {
    await publish();
    const { io, out } = capture();
    expect(await auditReplayCommand({ ...range(), format: 'text' }, io)).toBe(0);
    expect(out.stdout).toContain('CLEAN: 12 receipts');
    expect(out.stdout).toMatch(/gw-1\/0\s+1\s+12\s+12\s+0\s+12\s+ok/);
    expect(out.stderr).toBe('');
  });

  it('exits 3 when a receipt was tampered with, and the JSON report matches the schema', async () => {
    await publish(5);
    const { io, out } = capture();
    const code = await auditReplayCommand({ ...range(), format: 'json', out: 'r.json' }, io);
    expect(code).toBe(3);
    const report = AuditReport.parse(JSON.parse(out.files.get('r.json')!));
    expect(report.clean).toBe(false);
    expect(report.summary.findingsByCode).toEqual({ BAD_RECEIPT_SIGNATURE: 1, SEQ_GAP: 1 });
    expect(out.stderr).toContain('2 findings, report written to r.json');
  });

  it('exits 0 with findings when failOnFindings is off', async () => {
    await publish(5);
    const { io } = capture();
    const lenient = { ...io, env: { ...env(), COUNTERSIGN_CONFIG_FILE: join(dir, 'cfg.json') } };
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ audit: { failOnFindings: false } }));
    expect(loadConfig(lenient.env, 'audit').audit.failOnFindings).toBe(false);
    expect(await auditReplayCommand({ ...range(), format: 'html' }, lenient)).toBe(0);
  });

  it('exits 2 for bad arguments and bad configuration, naming each problem', async () => {
    const { io, out } = capture();
    expect(
      await auditReplayCommand({ from: 'yesterday', to: '2026-01-01', format: 'pdf' }, io),
    ).toBe(2);
    expect(out.stderr).toContain('--from must be an ISO 8601 date');
    expect(out.stderr).toContain('--format must be one of text, json, html');
    expect(await auditReplayCommand({ from: '2026-02-01', to: '2026-01-01' }, io)).toBe(2);
    expect(out.stderr).toContain('--from must be before --to');
    const bad = { ...io, env: { ...env(), COUNTERSIGN_MODE: 'cloud' } };
    expect(await auditReplayCommand(range(), bad)).toBe(2);
    expect(out.stderr).toContain('COUNTERSIGN_MODE: must be "embedded" or "aws"');
  });

  it('exits 1 when the audit cannot run (missing key files)', async () => {
    rmSync(embeddedPaths(dir).keysDir, { recursive: true });
    await publish();
    const { io, out } = capture();
    expect(await auditReplayCommand(range(), io)).toBe(1);
    expect(out.stderr).toMatch(/countersign audit: .+/);
  });

  it('registers `audit replay` and `audit live` on a commander program', async () => {
    await publish();
    const { io, out } = capture();
    const program = createAuditProgram(io);
    const { from, to } = range();
    await program.parseAsync(['audit', 'replay', '--from', from, '--to', to, '--format', 'json'], {
      from: 'user',
    });
    expect(process.exitCode).toBe(0);
    process.exitCode = undefined;
    expect(JSON.parse(out.stdout).summary.receipts).toBe(12);
    const audit = program.commands.find((c) => c.name() === 'audit')!;
    expect(audit.commands.map((c) => c.name())).toEqual(['replay', 'live', 'reconcile']);
  });

  it('audit live prints findings as they come and the summary at stop; exit 3 on findings', async () => {
    await publish(4);
    const { io, out } = capture();
    const controller = new AbortController();
    const timer = setInterval(() => {
      if (out.stdout.includes('BAD_RECEIPT_SIGNATURE')) controller.abort();
    }, 20);
    const code = await auditLiveCommand({ format: 'text' }, controller.signal, io);
    clearInterval(timer);
    expect(code).toBe(3);
    expect(out.stdout).toMatch(/^BAD_RECEIPT_SIGNATURE .*\[BAD_SIGNATURE\]$/m);
    expect(out.stdout).toContain('FINDINGS: 11 receipts');
    expect(out.stderr).toContain('live (embedded)');
  });

  it('audit live serves GET /metrics with its counts while it runs (COUNTERSIGN_METRICS_PORT)', async () => {
    await publish(4);
    const { io, out } = capture();
    const live: AuditCommandIO = {
      ...io,
      env: { ...io.env, COUNTERSIGN_METRICS_PORT: '0' },
      createRuntime: (config, overrides) => createAuditFromConfig(config, overrides),
    };
    const controller = new AbortController();
    const running = auditLiveCommand({ format: 'text' }, controller.signal, live);
    const until = async (done: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 500 && !(await done()); i++) await new Promise((r) => setTimeout(r, 20));
      expect(await done()).toBe(true);
    };
    await until(() => out.stdout.includes('BAD_RECEIPT_SIGNATURE'));
    const url = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(out.stderr)?.[1];
    expect(url).toBeDefined();
    const sample = (text: string, series: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.split(' ')[1],
      );
    let text = '';
    // The live loop records as it goes: poll until the whole archive is counted.
    await until(async () => {
      text = await (await fetch(url!)).text();
      return sample(text, 'countersign_audit_receipts_total{service="audit"}') === 11;
    });
    expect(
      sample(
        text,
        'countersign_audit_findings_total{code="BAD_RECEIPT_SIGNATURE",service="audit"}',
      ),
    ).toBe(1);
    controller.abort();
    expect(await running).toBe(3);
    await expect(fetch(url!)).rejects.toThrow(); // closed with the process's work
  });

  it('a second audit live on the same data directory exits 4 at once, naming the holder', async () => {
    await publish();
    const first = capture();
    const stopFirst = new AbortController();
    // The role lock is taken before the first await of the live loop.
    const running = auditLiveCommand({ format: 'text' }, stopFirst.signal, first.io);
    const second = capture();
    const code = await auditLiveCommand(
      { format: 'text' },
      new AbortController().signal,
      second.io,
    );
    expect(code).toBe(4);
    expect(second.out.stderr).toContain(
      'countersign audit live: another process holds the audit-live role of',
    );
    expect(second.out.stderr).toContain(`pid ${process.pid}`);
    expect(second.out.stdout).toBe('');
    stopFirst.abort();
    await running;
    expect(first.out.stderr).toContain('live (embedded)');
    // Released on stop: the next one runs.
    const third = capture();
    const stopThird = new AbortController();
    const next = auditLiveCommand({ format: 'text' }, stopThird.signal, third.io);
    stopThird.abort();
    await expect(next).resolves.not.toBe(4);
    expect(third.out.stderr).toContain('live (embedded)');
  });
});
