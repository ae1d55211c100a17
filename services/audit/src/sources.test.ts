// Embedded sources and small adapters: live cursor + commit, checkpoint files, head state file.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENT_DETAIL_TYPE, EVENT_SOURCE, type Clock } from '@countersign/contracts';
import { createSqliteEventBus, type Queue, type ReceivedMessage } from '@countersign/transport';
import { createAuditor, type IngestResult } from './auditor.ts';
import { runEmbeddedLive, runSqsLive } from './sources.ts';
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

describe('draining live sources (the demo reads receipts through them)', () => {
  const newAuditor = async () => {
    const kit = await testKit();
    const auditor = createAuditor({
      verifiers: kitVerifiers(kit, clock),
      clockSkewSec: 30,
      clock,
      window: { checkpointsUntil: null },
    });
    return { kit, auditor };
  };
  const aborted = () => AbortSignal.abort();

  it('embedded: an aborted signal without drain stops at once; with drain it reads until empty and reports each event', async () => {
    const { kit, auditor } = await newAuditor();
    const bus = createSqliteEventBus({ path: join(dir, 'bus.sqlite'), pollIntervalMs: 5 });
    const emitted = [];
    for (let i = 0; i < 5; i++) emitted.push(await kit.gateway.emit());
    // The third event twice: the auditor says duplicate, and the listener hears it.
    await bus.publish([...emitted.map((e) => e.detail), emitted[2]!.detail]);
    const stopped = await runEmbeddedLive({ archive: bus, auditor, signal: aborted(), waitMs: 20 });
    expect(stopped).toBe(0);
    expect(bus.position('demo')).toBe('0');
    const seen: IngestResult[] = [];
    const n = await runEmbeddedLive({
      archive: bus,
      auditor,
      consumer: 'demo',
      batch: 2,
      waitMs: 20,
      signal: aborted(),
      drain: { maxMs: 60_000, clock },
      onIngested: (detail, result) => {
        expect(detail).toBeTypeOf('object');
        seen.push(result);
      },
    });
    expect(n).toBe(6);
    expect(seen).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'duplicate']);
    expect(bus.position('demo')).not.toBe('0');
    expect(bus.position('audit')).toBe('0');
    await bus.close();
  });

  it('embedded: while events are outstanding it reads on, and stops at the deadline', async () => {
    const { auditor } = await newAuditor();
    const bus = createSqliteEventBus({ path: join(dir, 'bus.sqlite'), pollIntervalMs: 5 });
    // Each read takes 2 s of the injected clock.
    let now = 0;
    const ticking: Clock = { now: () => now };
    let reads = 0;
    const counting = {
      ...bus,
      poll: (...args: Parameters<typeof bus.poll>) => {
        reads++;
        now += 2000;
        return bus.poll(...args);
      },
      commit: bus.commit.bind(bus),
    };
    const n = await runEmbeddedLive({
      archive: counting,
      auditor,
      waitMs: 1,
      signal: aborted(),
      drain: { maxMs: 5000, clock: ticking, outstanding: () => 1 },
    });
    expect(n).toBe(0);
    // The deadline is 5 s after the first drain read (t=2 s → 7 s): reads at 2, 4, 6 and 8 s.
    expect(reads).toBe(4);
    await bus.close();
  });

  it('sqs: audits through the envelope check (wrong source is a finding, not a receipt), acknowledges, and stops when drained', async () => {
    const kit = await testKit();
    const good = await kit.gateway.emit();
    const envelope = (id: string, source: string, detail: unknown) =>
      JSON.stringify({
        id,
        time: new Date(clock.now()).toISOString(),
        source,
        'detail-type': EVENT_DETAIL_TYPE,
        detail,
      });
    const message = (n: number, body: string): ReceivedMessage => ({
      messageId: `m${n}`,
      receiptHandle: `h${n}`,
      receiveCount: 1,
      groupId: undefined,
      sentAt: clock.now(),
      body,
    });
    const batches: ReceivedMessage[][] = [
      [
        message(1, envelope('e1', EVENT_SOURCE, good.detail)),
        message(2, envelope('e2', 'someone.else', good.detail)),
        message(3, 'not json'),
      ],
    ];
    const deleted: string[] = [];
    const signals: (AbortSignal | undefined)[] = [];
    const queue = {
      maxReceives: 5,
      receive: (o: { signal?: AbortSignal }) => {
        signals.push(o.signal);
        return Promise.resolve(batches.shift() ?? []);
      },
      delete: (h: string) => {
        deleted.push(h);
        return Promise.resolve();
      },
    } as unknown as Queue;
    const findings: string[] = [];
    const sqsAuditor = createAuditor({
      verifiers: kitVerifiers(kit, clock),
      clockSkewSec: 30,
      clock,
      window: { checkpointsUntil: null },
      onFinding: (f) => findings.push(f.code),
    });
    const seen: IngestResult[] = [];
    const n = await runSqsLive({
      queue,
      auditor: sqsAuditor,
      signal: aborted(),
      drain: { maxMs: 60_000, clock },
      onIngested: (_detail, result) => seen.push(result),
    });
    expect(n).toBe(3);
    expect(seen).toEqual(['accepted']);
    expect(findings).toHaveLength(2);
    expect(deleted).toEqual(['h1', 'h2', 'h3']);
    // Two reads (the batch, then the empty one that ends the drain), neither cut short.
    expect(signals).toEqual([undefined, undefined]);
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
