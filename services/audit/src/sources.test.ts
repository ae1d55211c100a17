// Embedded sources and small adapters: live cursor + commit, checkpoint files, head state file.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '@countersign/contracts';
import { createSqliteEventBus } from '@countersign/transport';
import { staticKeys } from '@countersign/verifier';
import { createAuditor } from './auditor.ts';
import { runEmbeddedLive } from './sources.ts';
import { jsonFileAuditState } from './state-file.ts';
import { createSyntheticKit } from './synthetic-gateway.ts';
import { createAuditVerifiers } from './verifiers.ts';

const START = 1_780_000_000;
const clock: Clock = { now: () => (START + 100) * 1000 };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cs-audit-src-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded live audit', () => {
  it('audits what the bus holds, saves heads, commits its cursor, and resumes from saved heads', async () => {
    const kit = await createSyntheticKit({
      gatewayId: 'gw-1',
      requesterId: 'req-1',
      startTime: START,
      policy: { version: 'v'.repeat(43), maxNotional: '5000' },
    });
    const bus = createSqliteEventBus({ path: join(dir, 'bus.sqlite'), pollIntervalMs: 5 });
    const emitted = [];
    for (let i = 0; i < 8; i++) emitted.push(await kit.gateway.emit());
    await bus.publish(emitted.slice(0, 5).map((e) => e.detail));
    const verifiers = createAuditVerifiers({
      gatewayKeys: staticKeys(kit.gatewayJwks),
      requesterKeys: staticKeys(kit.requesterJwks),
      gateways: ['gw-1'],
      requesters: ['req-1'],
      clock,
    });
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
  it('round-trips heads and rejects a corrupted file', async () => {
    const path = join(dir, 'heads.json');
    const store = jsonFileAuditState(path);
    expect((await store.load()).size).toBe(0);
    await store.save(new Map([['gw-1/0', { seq: 3, head: 'A'.repeat(22) }]]));
    expect([...(await store.load())]).toEqual([['gw-1/0', { seq: 3, head: 'A'.repeat(22) }]]);
    writeFileSync(path, '{"version":1,"heads":{"x":{"seq":-1,"head":"?"}}}');
    await expect(store.load()).rejects.toThrow();
  });
});
