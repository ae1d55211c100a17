// The whole pipeline on AWS APIs (moto): KMS signers, SQS FIFO, DynamoDB nonce store,
// EventBridge bus + archive + rule → audit queue. 150 orders through the HTTP API, the gateway
// worker consuming, audit live on the rule's queue, then an audit replay of the archive.
// Receipt batching is on (the aws default): the receipts are batch items under fewer KMS
// signatures than receipts, counted from the stored receipts' distinct heads.
import { mkdtempSync } from 'node:fs';
import { DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '@countersign/contracts';
import { runDemo } from '@countersign/cli';
import { clientConfig } from './support/aws.ts';
import { createAwsStack } from './support/aws-stack.ts';

/** The gateway's signatures over receipts: one per batch head, one per plain JWS. */
async function receiptSignatures(table: string): Promise<{ receipts: number; signatures: number }> {
  const signatures = new Set<string>();
  const receipts = new Set<string>();
  const client = new DynamoDBClient(clientConfig());
  for await (const page of paginateScan({ client }, { TableName: table })) {
    for (const item of page.Items ?? []) {
      const token = item.receipt?.S;
      if (!token) continue;
      receipts.add(token); // one receipt may be stored under several keys (iss#jti, msg#…)
      signatures.add(
        token.startsWith('{') ? (JSON.parse(token) as { batch: string }).batch : token,
      );
    }
  }
  client.destroy();
  return { receipts: receipts.size, signatures: signatures.size };
}

describe('pipeline on AWS APIs (COUNTERSIGN_MODE=aws, moto)', () => {
  it('150 orders and the bad apples end in the receipts audit expects', async () => {
    const stack = await createAwsStack();
    const config = parseConfig({
      env: {
        ...stack.env,
        COUNTERSIGN_HTTP_PORT: '0',
        COUNTERSIGN_DATA_DIR: mkdtempSync(join(tmpdir(), 'countersign-aws-')),
        COUNTERSIGN_CONCURRENCY: '8',
        // A loaded moto can fall a minute behind: the orders must not expire in the queue.
        COUNTERSIGN_TOKEN_LIFETIME_SEC: '300',
      },
      part: 'all',
    });
    const lines: string[] = [];
    const summary = await runDemo({
      config,
      count: 150,
      concurrency: 8,
      // A shallow queue: moto's FIFO receive slows as the queue grows.
      maxWaiting: 40,
      signal: new AbortController().signal,
      log: (line) => lines.push(line),
    });
    // A run that gave up waiting, or an order the API refused (a loaded moto failing a KMS or
    // SQS call), says so here: show the cause before the counts it changes.
    expect(lines.filter((l) => /^(gave up|HTTP \d|submit failed)/.test(l))).toEqual([]);

    expect(summary.mode).toBe('aws');
    expect(summary.expectations.filter((e) => !e.ok)).toEqual([]);
    expect(summary.receipts.byOutcome).toEqual({ EXECUTED: 151, REJECTED: 6 });
    expect(summary.audit).toMatchObject({
      liveVerified: 157,
      liveFindings: 0,
      replay: { receipts: 157, findings: 0, chain: 'intact' },
    });
    expect(summary.ok).toBe(true);

    const counted = await receiptSignatures(stack.tableName);
    expect(counted.receipts).toBeGreaterThan(0);
    expect(counted.signatures).toBeLessThan(counted.receipts);
  }, 300_000);
});
