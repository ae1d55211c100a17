// The EventBridge replay consumer against stubs of what real AWS does and moto does not: the
// replay runs asynchronously (STARTING -> RUNNING -> COMPLETED), events arrive out of order and
// duplicated, live traffic shares the audit queue, and a replay can fail.
import { describe, expect, it } from 'vitest';
import {
  DescribeEventBusCommand,
  DescribeReplayCommand,
  StartReplayCommand,
} from '@aws-sdk/client-eventbridge';
import type { Clock, ReceiptEventDetail } from '@countersign/contracts';
import type { Queue, ReceivedMessage } from '@countersign/transport';
import { staticKeys } from '@countersign/verifier';
import { createAuditor } from './auditor.ts';
import { replayEventBridgeArchive } from './sources.ts';
import { createSyntheticKit } from './synthetic-gateway.ts';
import { createAuditVerifiers } from './verifiers.ts';

const START = 1_780_000_000;

function envelope(detail: ReceiptEventDetail, replayName: string | undefined, id: string): string {
  return JSON.stringify({
    version: '0',
    id,
    'detail-type': 'TransactionReceipt',
    source: 'countersign.gateway',
    time: new Date(START * 1000).toISOString(),
    ...(replayName ? { 'replay-name': replayName } : {}),
    detail,
  });
}

function stubQueue(batches: string[][]): Queue & { deleted: string[]; released: string[] } {
  const deleted: string[] = [];
  const released: string[] = [];
  let n = 0;
  return {
    deleted,
    released,
    maxReceives: 10,
    receive: () => {
      const bodies = batches.shift() ?? [];
      return Promise.resolve(
        bodies.map((body): ReceivedMessage => ({
          messageId: `m${++n}`,
          body,
          groupId: undefined,
          receiveCount: 1,
          receiptHandle: `h${n}`,
          sentAt: 0,
        })),
      );
    },
    delete: (h) => {
      deleted.push(h);
      return Promise.resolve();
    },
    changeVisibility: (h) => {
      released.push(h);
      return Promise.resolve();
    },
    send: () => Promise.reject(new Error('unused')),
    sendBatch: () => Promise.reject(new Error('unused')),
  };
}

describe('replayEventBridgeArchive', () => {
  it('audits only its replay, out of order and duplicated, until completed and quiet', async () => {
    const kit = await createSyntheticKit({
      gatewayId: 'gw-1',
      requesterId: 'req-1',
      startTime: START,
      policy: { version: 'v'.repeat(43), maxNotional: '5000' },
    });
    const ds: ReceiptEventDetail[] = [];
    for (let i = 0; i < 6; i++) ds.push((await kit.gateway.emit()).detail);
    const R = 'audit-r1';
    const queue = stubQueue([
      [envelope(ds[4]!, R, 'a'), envelope(ds[0]!, undefined, 'live-1'), envelope(ds[1]!, R, 'b')],
      [],
      [envelope(ds[5]!, R, 'c'), envelope(ds[2]!, R, 'd'), envelope(ds[1]!, R, 'e')],
      [envelope(ds[3]!, R, 'f'), envelope(ds[0]!, R, 'g'), envelope(ds[0]!, 'other', 'x')],
    ]);
    let t = START * 1000;
    const clock: Clock = { now: () => (t += 400) };
    const states = ['STARTING', 'RUNNING', 'RUNNING', 'COMPLETED'];
    const sent: string[] = [];
    const client = {
      send: (cmd: object) => {
        sent.push(cmd.constructor.name);
        if (cmd instanceof DescribeEventBusCommand) {
          return Promise.resolve({ Arn: 'arn:aws:events:us-east-1:1:event-bus/b' });
        }
        if (cmd instanceof StartReplayCommand) return Promise.resolve({ State: 'STARTING' });
        if (cmd instanceof DescribeReplayCommand) {
          return Promise.resolve({ State: states.shift() ?? 'COMPLETED' });
        }
        return Promise.reject(new Error('unexpected command'));
      },
    } as Parameters<typeof replayEventBridgeArchive>[0]['client'];
    const auditor = createAuditor({
      verifiers: createAuditVerifiers({
        gatewayKeys: staticKeys(kit.gatewayJwks),
        requesterKeys: staticKeys(kit.requesterJwks),
        gateways: ['gw-1'],
        requesters: ['req-1'],
        clock: { now: () => (START + 100) * 1000 },
      }),
      clockSkewSec: 30,
      clock,
    });
    const audited = await replayEventBridgeArchive({
      client,
      queue,
      auditor,
      archiveArn: 'arn:aws:events:us-east-1:1:archive/a',
      busName: 'b',
      from: 0,
      to: 1,
      replayName: R,
      clock,
      quietMs: 1000,
    });
    expect(audited).toBe(7);
    expect(queue.released).toEqual(['h2', 'h9']);
    expect(queue.deleted).toHaveLength(7);
    expect(sent.slice(0, 2)).toEqual(['DescribeEventBusCommand', 'StartReplayCommand']);
    const report = auditor.finish({
      kind: 'eventbridge-replay',
      from: null,
      to: null,
      gateway: null,
    });
    expect(report.findings).toEqual([]);
    expect(report.summary).toMatchObject({ receipts: 6, duplicates: 1, events: 7 });
  });

  it('does not count the time spent auditing a batch as quiet', async () => {
    const kit = await createSyntheticKit({
      gatewayId: 'gw-1',
      requesterId: 'req-1',
      startTime: START,
    });
    const ds: ReceiptEventDetail[] = [];
    for (let i = 0; i < 4; i++) ds.push((await kit.gateway.emit()).detail);
    const R = 'audit-slow';
    const batches = [
      [envelope(ds[0]!, R, 'a'), envelope(ds[1]!, R, 'b')],
      [envelope(ds[2]!, R, 'c'), envelope(ds[3]!, R, 'd')],
    ];
    let t = START * 1000;
    const inner = stubQueue(batches);
    const queue: Queue = {
      ...inner,
      // An empty receive waits its full second; acknowledging a batch takes longer than quietMs.
      receive: async (o) => {
        const got = await inner.receive(o);
        if (got.length === 0) t += 1000;
        return got;
      },
      delete: async (h) => {
        t += 1500;
        await inner.delete(h);
      },
    };
    const clock: Clock = { now: () => t };
    const client = {
      send: (cmd: object) =>
        Promise.resolve(
          cmd instanceof DescribeReplayCommand ? { State: 'COMPLETED' } : { Arn: 'arn' },
        ),
    } as Parameters<typeof replayEventBridgeArchive>[0]['client'];
    const auditor = createAuditor({
      verifiers: createAuditVerifiers({
        gatewayKeys: staticKeys(kit.gatewayJwks),
        requesterKeys: staticKeys(kit.requesterJwks),
        gateways: ['gw-1'],
        requesters: null,
        clock: { now: () => (START + 100) * 1000 },
      }),
      clockSkewSec: 30,
      clock,
    });
    const audited = await replayEventBridgeArchive({
      client,
      queue,
      auditor,
      archiveArn: 'a',
      busName: 'b',
      from: 0,
      to: 1,
      replayName: R,
      clock,
      quietMs: 2000,
    });
    expect(audited).toBe(4);
    expect(inner.deleted).toHaveLength(4);
  });

  it('fails with REPLAY_FAILED when the replay fails', async () => {
    const client = {
      send: (cmd: object) =>
        Promise.resolve(
          cmd instanceof DescribeReplayCommand
            ? { State: 'FAILED', StateReason: 'archive gone' }
            : { Arn: 'arn' },
        ),
    } as Parameters<typeof replayEventBridgeArchive>[0]['client'];
    const kit = await createSyntheticKit({
      gatewayId: 'gw-1',
      requesterId: 'req-1',
      startTime: START,
    });
    const auditor = createAuditor({
      verifiers: createAuditVerifiers({
        gatewayKeys: staticKeys(kit.gatewayJwks),
        requesterKeys: staticKeys(kit.requesterJwks),
        gateways: ['gw-1'],
        requesters: null,
      }),
      clockSkewSec: 30,
      clock: { now: () => 0 },
    });
    await expect(
      replayEventBridgeArchive({
        client,
        queue: stubQueue([]),
        auditor,
        archiveArn: 'a',
        busName: 'b',
        from: 0,
        to: 1,
        replayName: 'r',
        clock: { now: () => 0 },
      }),
    ).rejects.toMatchObject({
      code: 'REPLAY_FAILED',
      message: expect.stringContaining('archive gone'),
    });
  });
});
