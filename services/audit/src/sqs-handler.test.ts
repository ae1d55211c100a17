// The audit Lambda's batch logic: findings are logged and acknowledged; processing errors are
// reported per record in batchItemFailures.
import { describe, expect, it } from 'vitest';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { CountersignError, type Clock } from '@countersign/contracts';
import { staticKeys } from '@countersign/verifier';
import { createAuditor } from './auditor.ts';
import { handleAuditBatch } from './sqs-handler.ts';
import { createSyntheticKit } from './synthetic-gateway.ts';
import { createAuditVerifiers } from './verifiers.ts';
import type { TokenVerifiers } from './ports.ts';

const START = 1_780_000_000;
const clock: Clock = { now: () => (START + 100) * 1000 };

function record(messageId: string, detail: unknown): SQSRecord {
  const body = JSON.stringify({
    version: '0',
    id: `evt-${messageId}`,
    'detail-type': 'TransactionReceipt',
    source: 'countersign.gateway',
    time: new Date(START * 1000).toISOString(),
    detail,
  });
  return { messageId, body } as SQSRecord;
}

describe('handleAuditBatch', () => {
  it('logs findings as JSON, acknowledges them, and fails only records it could not process', async () => {
    const kit = await createSyntheticKit({
      gatewayId: 'gw-1',
      requesterId: 'req-1',
      startTime: START,
      policy: { version: 'v'.repeat(43), maxNotional: '1000' },
    });
    const good = await kit.gateway.emit();
    const bad = await kit.gateway.emit({ tamperRequest: (t) => `${t.slice(0, -2)}AA` });
    const real = createAuditVerifiers({
      gatewayKeys: staticKeys(kit.gatewayJwks),
      requesterKeys: staticKeys(kit.requesterJwks),
      gateways: ['gw-1'],
      requesters: ['req-1'],
      clock,
    });
    let calls = 0;
    const flaky: TokenVerifiers = {
      ...real,
      receipt: (token) =>
        ++calls === 3
          ? Promise.reject(new CountersignError('KEY_UNAVAILABLE', 'KMS GetPublicKey failed'))
          : real.receipt(token),
    };
    const logs: Record<string, unknown>[] = [];
    const event: SQSEvent = {
      Records: [
        record('m1', good.detail),
        record('m2', bad.detail),
        record('m3', good.detail),
        { messageId: 'm4', body: 'not json' } as SQSRecord,
      ],
    };
    const res = await handleAuditBatch(event, {
      createAuditor: (o) => createAuditor({ verifiers: flaky, clockSkewSec: 30, clock, ...o }),
      log: (e) => logs.push(e),
    });
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm3' }]);
    const findings = logs.filter((l) => l.msg === 'audit finding').map((l) => l.code);
    expect(findings).toEqual(['REQUEST_HASH_MISMATCH', 'REQUEST_INVALID', 'MALFORMED_EVENT']);
    expect(logs.find((l) => l.msg === 'audit processing failed')).toMatchObject({
      record: 'Records[2]',
      code: 'KEY_UNAVAILABLE',
    });
    expect(logs.at(-1)).toMatchObject({ msg: 'audit batch', records: 4, audited: 3, failed: 1 });
  });
});
