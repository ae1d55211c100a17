// Embedded sources and small adapters: live cursor + commit, checkpoint files, head state file.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '@countersign/contracts';
import { createSqliteEventBus } from '@countersign/transport';
import { createAuditor } from './auditor.ts';
import { runEmbeddedLive } from './sources.ts';
import { jsonFileAuditState, type DurableWrite } from './state-file.ts';
import { START, kitVerifiers, testKit } from './testing/kit.ts';

const clock: Clock = { now: () => (START + 100) * 1000 };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cs-audit-src-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded live audit', () => {
  it('audits what the bus holds, saves heads, commits its cursor, and resumes from saved heads', async () => {
    const kit = await testKit();
    const bus = createSqliteEventBus({ path: join(dir, 'bus.sqlite'), pollIntervalMs: 5 });
    const emitted = [];
    for (let i = 0; i < 8; i++) emitted.push(await kit.gateway.emit());
    await bus.publish(emitted.slice(0, 5).map((e) => e.detail));
    const verifiers = kitVerifiers(kit, clock);
    const state = jsonFileAuditState(join(dir, 'state', 'heads.json'));
    const live = async (stopAfter: number) => {
      const auditor = createAuditor({
        verifiers,
        clockSkewSec: 30,
        clock,
        starts: await state.load(),
        window: { checkpointsUntil: null },
      });
      const controller = new AbortController();
      const timer = setInterval(() => {
        void state.load().then((h) => {
          if ((h.get('gw-1/0')?.seq ?? 0) >= stopAfter) controller.abort();
        });
      }, 10);
      await runEmbeddedLive({
        archive: bus,
        auditor,
        state: { state, base: new Map() },
        signal: controller.signal,
        waitMs: 20,
      });
      clearInterval(timer);
      return auditor.finish({ kind: 'embedded-live', from: null, to: null, gateway: null });
    };
    const first = await live(5);
    expect(first.clean).toBe(true);
    expect(first.summary.receipts).toBe(5);
    expect(bus.position('audit')).not.toBe('0');
    // Restart: only the new events are read (cursor), and they link onto the saved head.
    await bus.publish(emitted.slice(5).map((e) => e.detail));
    const second = await live(8);
    expect(second.clean).toBe(true);
    expect(second.summary).toMatchObject({ receipts: 3, events: 3 });
    expect(second.summary.streams[0]).toMatchObject({ firstSeq: 6, lastSeq: 8 });
    await bus.close();
  });
});

describe('jsonFileAuditState', () => {
  const head = (seq: number) => ({ seq, head: 'A'.repeat(21) + String(seq % 10) });

  it('round-trips, chains each save to the one before, and refuses an edited or corrupted file', async () => {
    const path = join(dir, 'state.json');
    const store = jsonFileAuditState(path);
    expect((await store.load()).size).toBe(0);
    const cp = { index: 2, hash: 'C'.repeat(43) };
    await store.save(new Map([['gw-1/0', { ...head(3), checkpoint: cp }]]));
    const first = readFileSync(path, 'utf8');
    await store.save(new Map([['gw-1/0', { ...head(5), checkpoint: cp }]]));
    const second = JSON.parse(readFileSync(path, 'utf8')) as { n: number; prev: string };
    expect(second.n).toBe(2);
    expect(second.prev).toBe(createHash('sha256').update(first).digest('base64url'));
    expect(store.describe!()).toMatchObject({ file: path, loaded: null, saved: { n: 2 } });
    const again = jsonFileAuditState(path);
    expect([...(await again.load())]).toEqual([['gw-1/0', { ...head(5), checkpoint: cp }]]);
    expect(again.describe!().loaded).toEqual(store.describe!().saved);
    // An edit that does not recompute the digest (rolling the head back by hand) is refused.
    writeFileSync(path, readFileSync(path, 'utf8').replace('"seq":5', '"seq":1'));
    await expect(jsonFileAuditState(path).load()).rejects.toMatchObject({
      code: 'STATE_INVALID',
      message: expect.stringContaining('fails its integrity check'),
    });
    writeFileSync(path, '{"version":2');
    await expect(jsonFileAuditState(path).load()).rejects.toMatchObject({ code: 'STATE_INVALID' });
    // The previous format (live consumers before issue 14) is still read.
    writeFileSync(path, JSON.stringify({ version: 1, heads: { 'gw-1/0': head(4) } }));
    expect([...(await jsonFileAuditState(path).load())]).toEqual([['gw-1/0', head(4)]]);
  });

  it('a full disk fails the save cleanly: no temp file left, the last good state kept', async () => {
    const path = join(dir, 'state.json');
    await jsonFileAuditState(path).save(new Map([['gw-1/0', head(3)]]));
    const good = readFileSync(path, 'utf8');
    // The fault at the exact point: the temp file is created, then the write hits ENOSPC.
    const enospc: DurableWrite = (tmp) => {
      writeFileSync(tmp, '');
      return Promise.reject(
        Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
      );
    };
    const store = jsonFileAuditState(path, { write: enospc });
    await store.load();
    await expect(store.save(new Map([['gw-1/0', head(4)]]))).rejects.toMatchObject({
      code: 'STORE_FAILED',
      message: `cannot save the audit state ${path}: ENOSPC`,
    });
    expect(readdirSync(dir)).toEqual(['state.json']);
    expect(readFileSync(path, 'utf8')).toBe(good);
    // A temp file a killed process left behind is removed on the next load.
    writeFileSync(`${path}.999999.0badf00d.tmp`, '');
    await jsonFileAuditState(path).load();
    expect(readdirSync(dir)).toEqual(['state.json']);
  });
});

describe('audit live on a full disk (issue 13 F6)', () => {
  it('keeps running: retries the state with backoff, logs each failure, acknowledges only once saved', async () => {
    const kit = await testKit();
    const bus = createSqliteEventBus({ path: join(dir, 'bus.sqlite'), pollIntervalMs: 5 });
    const emitted = [];
    for (let i = 0; i < 6; i++) emitted.push(await kit.gateway.emit());
    await bus.publish(emitted.slice(0, 3).map((e) => e.detail));
    const path = join(dir, 'state', 'audit-state.json');
    let failures = 2;
    const state = jsonFileAuditState(path, {
      write: (tmp, data) => {
        writeFileSync(tmp, failures > 0 ? '' : data);
        if (failures-- > 0) {
          const err = Object.assign(new Error('ENOSPC: no space left on device'), {
            code: 'ENOSPC',
          });
          return Promise.reject(err);
        }
        return Promise.resolve();
      },
    });
    const auditor = createAuditor({
      verifiers: kitVerifiers(kit, clock),
      clockSkewSec: 30,
      clock,
      window: { checkpointsUntil: null },
    });
    const errors: [string, number, number][] = [];
    const positions: string[] = [];
    const controller = new AbortController();
    const running = runEmbeddedLive({
      archive: bus,
      auditor,
      signal: controller.signal,
      waitMs: 20,
      state: {
        state,
        base: new Map(),
        onError: (err, attempt, wait) => errors.push([(err as Error).message, attempt, wait]),
        // While the disk is full the cursor must not move: recorded at each wait.
        sleep: () => {
          positions.push(bus.position('audit'));
          return Promise.resolve();
        },
      },
    });
    const until = async (cond: () => boolean) => {
      while (!cond()) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => bus.position('audit') !== '0');
    await bus.publish(emitted.slice(3).map((e) => e.detail)); // and it goes on after the outage
    await until(() => (auditor.heads().get('gw-1/0')?.seq ?? 0) === 6 && existsSync(path));
    await until(() => JSON.parse(readFileSync(path, 'utf8')).streams['gw-1/0'].seq === 6);
    controller.abort();
    expect(await running).toBe(6);
    await bus.close();
    expect(errors).toEqual([
      [expect.stringContaining('ENOSPC'), 1, 100],
      [expect.stringContaining('ENOSPC'), 2, 200],
    ]);
    expect(positions).toEqual(['0', '0']);
    expect(readdirSync(join(dir, 'state'))).toEqual(['audit-state.json']);
    const report = auditor.finish({ kind: 'embedded-live', from: null, to: null, gateway: null });
    expect(report.findings).toEqual([]);
  });
});
