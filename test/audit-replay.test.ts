// Audit against moto: receipts published to an EventBridge bus (archive + rule -> audit queue),
// audited live from the queue, then a 10,000-receipt replay through the EventBridge archive
// (StartReplay) and through the embedded SQLite archive; report counts equal what was emitted.
// Receipts are signed by a synthetic gateway with local keys (no KMS), so this test depends only
// on the audit, transport and verifier code.
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventBridgeClient,
  ListReplaysCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  AuditReport,
  parseConfig,
  type Outcome,
  type ReceiptEventDetail,
} from '@countersign/contracts';
import { createEventBridgeBus, createSqliteEventBus, createSqsQueue } from '@countersign/transport';
import { staticKeys } from '@countersign/verifier';
import {
  createAuditFromConfig,
  createAuditVerifiers,
  createSyntheticKit,
  type AuditStateStore,
  type StreamStart,
  type SyntheticKit,
} from '@countersign/audit';
import { clientConfig } from './support/aws.ts';
import { createAwsStack, routeReceiptsToQueue, type AwsStack } from './support/aws-stack.ts';

const GATEWAY = 'gw-moto';
const REQUESTER = 'req-moto';
const OUTCOMES: readonly Outcome[] = ['EXECUTED', 'EXECUTED', 'EXECUTED', 'REJECTED', 'FAILED'];

let kit: SyntheticKit;
let eb: EventBridgeClient;
let sqs: SQSClient;

async function emit(
  n: number,
): Promise<{ details: ReceiptEventDetail[]; tally: Record<Outcome, number> }> {
  const details: ReceiptEventDetail[] = [];
  const tally: Record<Outcome, number> = { EXECUTED: 0, REJECTED: 0, FAILED: 0, UNKNOWN: 0 };
  for (let i = 0; i < n; i++) {
    const outcome = OUTCOMES[i % OUTCOMES.length]!;
    const e = await kit.gateway.emit({
      account: `acct-${i % 7}`,
      outcome,
      ...(outcome === 'REJECTED' ? { reason: 'NOTIONAL_TOO_HIGH' } : {}),
      ...(outcome === 'FAILED' ? { reason: 'EXCHANGE_REJECTED' } : {}),
    });
    details.push(e.detail);
    tally[outcome]++;
  }
  return { details, tally };
}

function verifiers() {
  return createAuditVerifiers({
    gatewayKeys: staticKeys(kit.gatewayJwks),
    requesterKeys: staticKeys(kit.requesterJwks),
    gateways: [GATEWAY],
    requesters: [REQUESTER],
  });
}

function awsConfig(stack: AwsStack) {
  return parseConfig({
    env: { ...stack.env, COUNTERSIGN_GATEWAY_ID: GATEWAY, COUNTERSIGN_REQUESTER_ID: REQUESTER },
    part: 'audit',
  });
}

function memoryState(): AuditStateStore & { saved: Map<string, StreamStart> } {
  const saved = new Map<string, StreamStart>();
  return {
    saved,
    load: () => Promise.resolve(new Map()),
    save: (heads) => {
      for (const [k, v] of heads) saved.set(k, v);
      return Promise.resolve();
    },
  };
}

beforeAll(async () => {
  eb = new EventBridgeClient(clientConfig());
  sqs = new SQSClient(clientConfig());
  // Receipts 1 s apart ending before now: all in the past for the verifiers' clock.
  kit = await createSyntheticKit({
    gatewayId: GATEWAY,
    requesterId: REQUESTER,
    startTime: Math.floor(Date.now() / 1000) - 20_000,
    partitions: 4,
    policy: { version: 'm'.repeat(43), maxNotional: '5000' },
  });
});

describe('audit against moto', () => {
  let stack: AwsStack;
  beforeAll(async () => {
    stack = await createAwsStack();
  });

  it('audits live from the SQS audit queue fed by the EventBridge rule', async () => {
    const { details, tally } = await emit(200);
    const bus = createEventBridgeBus({ client: eb, busName: stack.busName });
    for (let i = 0; i < details.length; i += 10) await bus.publish(details.slice(i, i + 10));

    const state = memoryState();
    const runtime = createAuditFromConfig(awsConfig(stack), {
      verifiers: verifiers(),
      sqs,
      state,
      checkpoints: {
        list: async () =>
          Promise.all(
            ['0', '1', '2', '3'].map(async (p) => ({
              stream: `${GATEWAY}/${p}`,
              token: await kit.gateway.checkpoint(`${GATEWAY}/${p}`),
            })),
          ),
      },
    });
    const controller = new AbortController();
    const running = runtime.live({ signal: controller.signal });
    const total = () => [...state.saved.values()].reduce((n, h) => n + h.seq, 0);
    const deadline = Date.now() + 30_000;
    while (total() < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    const report = AuditReport.parse(await running);
    await runtime.close();
    expect(report.findings).toEqual([]);
    expect(report.summary.receipts).toBe(200);
    expect(report.summary.byOutcome).toEqual(tally);
    expect(report.summary.streams.map((s) => s.checkpointSeq)).toEqual(
      report.summary.streams.map((s) => s.lastSeq),
    );
    expect(report.source.kind).toBe('sqs-live');
  });

  // moto is slow on this path (measured on this shared 2-core machine, load average ~12): a
  // PutEvents of 10 entries costs ~110 ms with an archive on the bus (~11 ms without), ~330 ms
  // with the archive plus the rule -> SQS target; StartReplay sends every event to SQS inside the
  // call; and draining the queue slows as it grows (quiet machine: 300 replayed events ~7 s,
  // 1,000 ~43 s; under load 1,000 took over 100 s). 10,000 receipts through moto's archive would take tens of minutes, so the EventBridge
  // path replays 300 (AUDIT_MOTO_REPLAY_N overrides) and the 10,000-receipt replay runs through
  // the embedded archive with the same count assertions. Throughput claims come from the bench.
  const MOTO_REPLAY = Number(process.env.AUDIT_MOTO_REPLAY_N ?? 300);

  it(`replays ${MOTO_REPLAY} receipts through moto's EventBridge archive (StartReplay)`, async () => {
    const replayStack = await createAwsStack();
    const { details, tally } = await emit(MOTO_REPLAY);
    // Publish with the rule's target detached (moto ignores DisableRule): only the archive
    // records them, and the audit queue receives nothing but the replay.
    await eb.send(
      new RemoveTargetsCommand({
        Rule: `${replayStack.name}-receipts`,
        EventBusName: replayStack.busName,
        Ids: ['audit'],
      }),
    );
    const bus = createEventBridgeBus({ client: eb, busName: replayStack.busName });
    const started = Date.now();
    // PutEvents in batches of 10 (the EventBridge limit).
    for (let i = 0; i < details.length; i += 10) await bus.publish(details.slice(i, i + 10));
    const publishMs = Date.now() - started;
    await routeReceiptsToQueue(eb, sqs, {
      busName: replayStack.busName,
      ruleName: `${replayStack.name}-receipts`,
      queueUrl: replayStack.auditQueueUrl,
    });

    const runtime = createAuditFromConfig(awsConfig(replayStack), {
      verifiers: verifiers(),
      eventBridge: eb,
      queue: createSqsQueue({ client: sqs, queueUrl: replayStack.auditQueueUrl, maxReceives: 10 }),
      checkpoints: { list: () => Promise.resolve([]) },
      // Not the default `<dataDir>/audit-state.json`: this config has no data dir of its own.
      state: memoryState(),
      replayQuietMs: 2000,
    });
    const report = AuditReport.parse(
      await runtime.replay({ from: Date.now() - 3_600_000, to: Date.now() + 60_000 }),
    );
    await runtime.close();
    console.log(
      `moto: ${details.length / 10} PutEvents in ${publishMs} ms; replay + audit in ${Date.now() - started - publishMs} ms`,
    );
    expect(report.source.kind).toBe('eventbridge-replay');
    expect(report.findings).toEqual([]);
    expect(report.summary.events).toBe(MOTO_REPLAY);
    expect(report.summary.receipts).toBe(MOTO_REPLAY);
    expect(report.summary.byOutcome).toEqual(tally);
    expect(report.summary.rejectionsByReason).toEqual({
      EXCHANGE_REJECTED: tally.FAILED,
      NOTIONAL_TOO_HIGH: tally.REJECTED,
    });
    expect(report.summary.accounts.reduce((n, a) => n + a.receipts, 0)).toBe(MOTO_REPLAY);
    const replays = await eb.send(
      new ListReplaysCommand({ EventSourceArn: replayStack.archiveArn }),
    );
    expect(replays.Replays?.[0]?.State).toBe('COMPLETED');
  });

  it('replays 10,000 receipts through the embedded archive, delivered shuffled and duplicated', async () => {
    const { details, tally } = await emit(10_000);
    const dir = mkdtempSync(join(tmpdir(), 'cs-audit-embedded-'));
    try {
      const sqlite = createSqliteEventBus({ path: join(dir, 'bus.sqlite') });
      // Out of order and with 500 duplicates, as an EventBridge replay may deliver them.
      const shuffled = [...details].sort(() => Math.random() - 0.5);
      await sqlite.publish([...shuffled, ...details.slice(0, 500)]);
      const embedded = createAuditFromConfig(
        parseConfig({
          env: { COUNTERSIGN_DATA_DIR: dir, COUNTERSIGN_GATEWAY_ID: GATEWAY },
          part: 'audit',
        }),
        {
          verifiers: verifiers(),
          archive: sqlite,
          checkpoints: { list: () => Promise.resolve([]) },
        },
      );
      const local = AuditReport.parse(
        await embedded.replay({ from: Date.now() - 60_000, to: Date.now() + 60_000 }),
      );
      await sqlite.close();
      expect(local.source.kind).toBe('embedded-archive');
      expect(local.findings).toEqual([]);
      expect(local.summary).toMatchObject({ events: 10_500, receipts: 10_000, duplicates: 500 });
      expect(local.summary.byOutcome).toEqual(tally);
      expect(local.summary.accounts.reduce((n, a) => n + a.receipts, 0)).toBe(10_000);
      expect(local.summary.streams.reduce((n, s) => n + s.receipts, 0)).toBe(10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
