// The EventBridge bus against moto: PutEvents through a bus with a rule to an SQS queue (the
// audit queue), parsed back with parseEventBridgeEnvelope. moto accepts every entry, so the
// partial-failure test wraps the real client in a stub that fails entries on the first call.
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import type { PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ReceiptEventDetail } from '@countersign/contracts';
import {
  createEventBridgeBus,
  createSqsQueue,
  parseEventBridgeEnvelope,
} from '@countersign/transport';
import { beforeAll, describe, expect, it } from 'vitest';
import { clientConfig, uniqueName } from './support/aws.ts';
import { routeReceiptsToQueue } from './support/aws-stack.ts';

let eb: EventBridgeClient;
let sqs: SQSClient;

beforeAll(() => {
  eb = new EventBridgeClient(clientConfig());
  sqs = new SQSClient(clientConfig());
});

/** A bus whose receipts rule targets a fresh standard queue; returns the bus and queue. */
async function busWithAuditQueue() {
  const name = uniqueName('receipts');
  const q = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-audit` }));
  await eb.send(new CreateEventBusCommand({ Name: name }));
  await routeReceiptsToQueue(eb, sqs, {
    busName: name,
    ruleName: `${name}-rule`,
    queueUrl: q.QueueUrl!,
  });
  return {
    busName: name,
    audit: createSqsQueue({ client: sqs, queueUrl: q.QueueUrl!, maxReceives: 5 }),
  };
}

const detail = (n: number): ReceiptEventDetail => ({
  receipt: `eyJhbGciOiJFUzI1NiJ9.eyJuIjo${n}fQ.c2lnbmF0dXJl`,
  request: n % 2 === 0 ? null : `eyJ0eXAiOiJ0eG4rand0In0.eyJuIjo${n}fQ.c2ln`,
  messageId: `msg-${n}`,
});

async function receiveDetails(audit: ReturnType<typeof createSqsQueue>, want: number) {
  const details: unknown[] = [];
  let idle = 0;
  while (details.length < want && idle < 5) {
    const batch = await audit.receive({ max: 10, waitMs: 1000 });
    idle = batch.length === 0 ? idle + 1 : 0;
    for (const m of batch) {
      const envelope = parseEventBridgeEnvelope(m.body);
      expect(envelope.source).toBe('countersign.gateway');
      expect(envelope.detailType).toBe('TransactionReceipt');
      details.push(envelope.detail);
      await audit.delete(m.receiptHandle);
    }
  }
  return details;
}

describe('createEventBridgeBus on moto', () => {
  it('publishes 25 events (3 calls) and each arrives on the audit queue through the rule', async () => {
    const { busName, audit } = await busWithAuditQueue();
    const events = Array.from({ length: 25 }, (_, i) => detail(i));
    await createEventBridgeBus({ client: eb, busName }).publish(events);
    const got = await receiveDetails(audit, 25);
    expect(got).toHaveLength(25);
    const parsed = got.map((d) => ReceiptEventDetail.parse(d));
    expect(new Set(parsed.map((d) => d.messageId))).toEqual(
      new Set(events.map((e) => e.messageId)),
    );
    expect(parsed.find((d) => d.messageId === 'msg-3')).toEqual(detail(3));
  });

  it('retries only the failed entries and each event arrives exactly once', async () => {
    const { busName, audit } = await busWithAuditQueue();
    const sentPerCall: string[][] = [];
    let calls = 0;
    // On the first call, entries 1 and 4 are withheld from moto and answered as throttled.
    const flaky = {
      async send(command: PutEventsCommand, opts?: { abortSignal?: AbortSignal }) {
        calls++;
        const entries = command.input.Entries ?? [];
        sentPerCall.push(
          entries.map((e) => (JSON.parse(e.Detail!) as { messageId: string }).messageId),
        );
        if (calls > 1) return eb.send(command, opts);
        const keep = entries.map((_, i) => i !== 1 && i !== 4);
        const out: PutEventsCommandOutput = await eb.send(
          new PutEventsCommand({ Entries: entries.filter((_, i) => keep[i]) }),
          opts,
        );
        const accepted = [...(out.Entries ?? [])];
        return {
          ...out,
          FailedEntryCount: 2,
          Entries: keep.map((k) =>
            k
              ? accepted.shift()!
              : { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
          ),
        };
      },
    } as unknown as EventBridgeClient;
    const events = Array.from({ length: 6 }, (_, i) => detail(i));
    await createEventBridgeBus({ client: flaky, busName, baseDelayMs: 5 }).publish(events);
    expect(sentPerCall).toEqual([events.map((e) => e.messageId), ['msg-1', 'msg-4']]);
    const got = (await receiveDetails(audit, 6)).map((d) => ReceiptEventDetail.parse(d).messageId);
    expect(got.sort()).toEqual(events.map((e) => e.messageId).sort());
    // Nothing more: no duplicate was published.
    expect(await audit.receive({ max: 10, waitMs: 500 })).toEqual([]);
  });

  it('a missing bus is BUS_FAILED with the SDK code, not retried forever', async () => {
    const bus = createEventBridgeBus({
      client: eb,
      busName: uniqueName('absent'),
      maxAttempts: 2,
      baseDelayMs: 1,
    });
    await expect(bus.publish([detail(1)])).rejects.toMatchObject({ code: 'BUS_FAILED' });
  });
});
