// Paths of the DynamoDB store that moto does not produce (it returns ALL_OLD items and
// cancellation reasons, as AWS does): a conflict without the old item, a cancelled transaction
// without reasons, a transaction conflict, and SDK error conversion. Stub client.
import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { GENESIS_PREV } from '@countersign/contracts';
import { createDynamoNonceStore, itemToRecord, ttlSeconds } from './dynamo-nonce-store.ts';

type Handler = (name: string, input: Record<string, unknown>) => unknown;

function stub(handler: Handler) {
  const calls: string[] = [];
  const client = {
    send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      const name = command.constructor.name.replace(/Command$/, '');
      calls.push(name);
      return Promise.resolve().then(() => handler(name, command.input));
    },
  } as unknown as DynamoDBClient;
  return { store: createDynamoNonceStore({ client, tableName: 't' }), calls };
}

const inProgress = (owner: string, leaseUntil: number, attempts = 1) => ({
  pk: { S: 'iss#k' },
  state: { S: 'IN_PROGRESS' },
  owner: { S: owner },
  leaseUntil: { N: String(leaseUntil) },
  expiresAt: { N: '9000' },
  attempts: { N: String(attempts) },
});
const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const canceled = (reasons?: { Code: string }[]) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: reasons,
  });
const completeOpts = {
  owner: 'A',
  stored: { receipt: 'r.r.r', request: null, messageId: 'm' },
  head: { stream: 'gw/0', seq: 3, hash: 'h'.repeat(43) },
  prev: 'p'.repeat(43),
  expiresAt: 9000,
};

describe('createDynamoNonceStore (stub client)', () => {
  it('reads the record when a conflict comes without ALL_OLD', async () => {
    const { store, calls } = stub((name) => {
      if (name === 'PutItem') throw conditionFailed();
      if (name === 'GetItem') return { Item: inProgress('A', 5000) };
      throw new Error(`unexpected ${name}`);
    });
    expect(
      await store.claim('iss#k', { expiresAt: 9000, leaseMs: 10, owner: 'B', now: 1000 }),
    ).toEqual({
      claimed: false,
      existing: itemToRecord(inProgress('A', 5000)),
    });
    expect(calls).toEqual(['PutItem', 'GetItem']);
  });

  it('a lost takeover race reports the winner’s record', async () => {
    const { store, calls } = stub((name) => {
      if (name === 'PutItem')
        throw Object.assign(conditionFailed(), { Item: inProgress('A', 500) });
      if (name === 'UpdateItem') throw conditionFailed();
      if (name === 'GetItem') return { Item: inProgress('C', 2000, 2) };
      throw new Error(`unexpected ${name}`);
    });
    const got = await store.claim('iss#k', {
      expiresAt: 9000,
      leaseMs: 1000,
      owner: 'B',
      now: 1000,
    });
    expect(got).toMatchObject({ claimed: false, existing: { owner: 'C', attempts: 2 } });
    expect(calls).toEqual(['PutItem', 'UpdateItem', 'GetItem']);
  });

  it('maps cancellation reasons: the nonce first, then the head', async () => {
    for (const [reasons, code] of [
      [[{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }], 'NONCE_CONFLICT'],
      [[{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }], 'CHAIN_CONFLICT'],
      [[{ Code: 'ConditionalCheckFailed' }, { Code: 'ConditionalCheckFailed' }], 'NONCE_CONFLICT'],
    ] as const) {
      const { store } = stub(() => {
        throw canceled([...reasons]);
      });
      await expect(store.complete('iss#k', completeOpts)).rejects.toMatchObject({ code });
    }
  });

  it('diagnoses a cancellation without reasons by reading both items', async () => {
    const { store } = stub((name, input) => {
      if (name === 'TransactWriteItems') throw canceled();
      const pk = (input.Key as { pk: { S: string } }).pk.S;
      if (pk === 'iss#k') return { Item: inProgress('A', 5000) };
      return { Item: { pk: { S: 'stream#gw/0' }, seq: { N: '7' }, hash: { S: 'x' } } };
    });
    await expect(store.complete('iss#k', completeOpts)).rejects.toMatchObject({
      code: 'CHAIN_CONFLICT',
      details: { expectedSeq: 2, actualSeq: 7 },
    });
  });

  it('a transaction conflict is a retryable STORE_FAILED', async () => {
    const { store } = stub(() => {
      throw canceled([{ Code: 'TransactionConflict' }, { Code: 'None' }]);
    });
    await expect(store.complete('iss#k', completeOpts)).rejects.toMatchObject({
      code: 'STORE_FAILED',
      details: { retryable: true },
    });
  });

  it('converts SDK errors with code, retryable and requestId', async () => {
    const { store } = stub(() => {
      throw Object.assign(new Error('Rate exceeded'), {
        name: 'ProvisionedThroughputExceededException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400, requestId: 'req-7' },
      });
    });
    await expect(store.get('x')).rejects.toMatchObject({
      code: 'STORE_FAILED',
      details: {
        code: 'ProvisionedThroughputExceededException',
        retryable: true,
        requestId: 'req-7',
      },
    });
  });

  it('writes the head with a conditional Put at seq 1 and a conditional Update after', async () => {
    const inputs: Record<string, unknown>[] = [];
    const { store } = stub((_name, input) => {
      inputs.push(input);
      return {};
    });
    await store.complete('msg#1', {
      ...completeOpts,
      head: { ...completeOpts.head, seq: 1 },
      prev: GENESIS_PREV,
    });
    await store.complete('msg#2', completeOpts);
    const items = inputs.map(
      (i) =>
        (
          i.TransactItems as Record<
            string,
            { ConditionExpression: string; ExpressionAttributeValues: Record<string, unknown> }
          >[]
        )[1]!,
    );
    expect(items[0]!.Put!.ConditionExpression).toBe('attribute_not_exists(pk)');
    // The head moves only from the receipt this one was signed on, not from any at seq - 1.
    expect(items[1]!.Update!.ConditionExpression).toBe('seq = :prev AND #hash = :prevHash');
    expect(items[1]!.Update!.ExpressionAttributeValues).toMatchObject({
      ':prev': { N: '2' },
      ':prevHash': { S: 'p'.repeat(43) },
    });
  });

  it('a cancelled head write at seq - 1 is a CHAIN_CONFLICT on another receipt', async () => {
    const { store } = stub(() => {
      throw canceled([
        { Code: 'None' },
        {
          Code: 'ConditionalCheckFailed',
          Item: { pk: { S: 'stream#gw/0' }, seq: { N: '2' }, hash: { S: 'x'.repeat(43) } },
        } as { Code: string },
      ]);
    });
    await expect(store.complete('iss#k', completeOpts)).rejects.toMatchObject({
      code: 'CHAIN_CONFLICT',
      details: { expectedSeq: 2, actualSeq: 2, otherHead: true },
    });
  });

  it('rejects an item with an unknown state and rounds ttl up to whole seconds', () => {
    expect(() =>
      itemToRecord({ pk: { S: 'k' }, state: { S: 'WEIRD' }, expiresAt: { N: '1' } }),
    ).toThrow(expect.objectContaining({ code: 'STORE_FAILED' }));
    expect(ttlSeconds(1_800_000_000_001)).toBe(1_800_000_001);
    expect(ttlSeconds(1_800_000_000_000)).toBe(1_800_000_000);
  });
});
