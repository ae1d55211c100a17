// The requester's DynamoDB IdempotencyStore on moto: the contract every adapter keeps (the memory
// and SQLite adapters run the same cases in the unit project), and what only DynamoDB adds: one
// conditional call per step (conflicts answered from ALL_OLD, not a second read), races decided
// by the conditional write (the competing write injected at the exact point), the 400 KB item
// limit, SDK errors, and a client built from the environment.
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_TTL_MS,
  createDynamoIdempotencyStore,
  submitOnce,
  type IdempotencyStore,
} from '@countersign/requester';
import {
  describeIdempotencyStoreContract,
  largestBatch,
  ownerOf,
  signedRequest,
} from '@countersign/requester/testing';
import { clientConfig, uniqueName } from './support/aws.ts';
import { createTtlTable } from './support/aws-stack.ts';

let client: DynamoDBClient;
let tableName: string;

beforeAll(async () => {
  client = new DynamoDBClient(clientConfig());
  tableName = uniqueName('idempotency');
  await createTtlTable(client, tableName);
});

const pk = (scope: string, key: string) => ({ pk: { S: JSON.stringify([scope, key]) } });

describeIdempotencyStoreContract('DynamoDB (moto)', () => ({
  open: (clock) => createDynamoIdempotencyStore({ client, tableName, clock }),
  shared: true,
  // moto's threaded server does not serialize racing conditional writes (real DynamoDB does);
  // the races below inject the competing write at the exact point instead.
  serializesConcurrentWrites: false,
  where: tableName,
  overwriteFixed: async (scope, key, raw) => {
    await client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: pk(scope, key),
        UpdateExpression: 'SET #fixed = :raw',
        ExpressionAttributeNames: { '#fixed': 'fixed' },
        ExpressionAttributeValues: { ':raw': { S: raw } },
      }),
    );
  },
}));

/** moto's client, recording the name of each command, with a hook before one is sent. */
function recordingClient(before?: (name: string) => Promise<void>) {
  const calls: string[] = [];
  const wrapped = {
    send: async (command: object) => {
      const name = command.constructor.name.replace(/Command$/, '');
      calls.push(name);
      await before?.(name);
      return client.send(command as never);
    },
  } as unknown as DynamoDBClient;
  return { calls, client: wrapped };
}

function storeOn(c: DynamoDBClient, clock: { now(): number }): IdempotencyStore {
  return createDynamoIdempotencyStore({ client: c, tableName, clock });
}

describe('DynamoDB idempotency store on moto', () => {
  it('one conditional call per step; a live key is answered from ALL_OLD, without a read', async () => {
    const now = 1_800_000_000_123;
    const scope = uniqueName('calls');
    const { calls, client: c } = recordingClient();
    const s = storeOn(c, { now: () => now });
    const owner = ownerOf(await s.begin(scope, 'k', 'h'));
    expect(await s.begin(scope, 'k', 'h')).toEqual({ state: 'in_progress' });
    expect(await s.begin(scope, 'k', 'other')).toEqual({ state: 'conflict' });
    expect(await s.fix(scope, 'k', owner, [signedRequest()])).toBe(true);
    await s.complete(scope, 'k', owner, { status: 202, body: { jti: 'j' } });
    expect(calls).toEqual(['PutItem', 'PutItem', 'PutItem', 'UpdateItem', 'UpdateItem']);

    // Answered: the tokens and the owner are gone, the answer stays; ttl in epoch seconds.
    const item = (
      await client.send(
        new GetItemCommand({ TableName: tableName, Key: pk(scope, 'k'), ConsistentRead: true }),
      )
    ).Item!;
    expect(item.fixed).toBeUndefined();
    expect(item.owner).toBeUndefined();
    expect(JSON.parse(item.response!.S!)).toEqual({ status: 202, body: { jti: 'j' } });
    expect(item.ttl).toEqual({ N: String(Math.ceil((now + IDEMPOTENCY_TTL_MS) / 1000)) });
  });

  it('two takeovers racing: the loser’s update meets the winner’s record and answers in_progress', async () => {
    const clock = { t: 0, now: () => clock.t };
    const scope = uniqueName('race');
    const first = storeOn(client, clock);
    const fixed = [signedRequest()];
    await first.fix(scope, 'k', ownerOf(await first.begin(scope, 'k', 'h')), fixed);
    clock.t += IDEMPOTENCY_LEASE_MS; // the first owner died

    const winner = storeOn(client, clock);
    let won: unknown;
    // The loser read the abandoned record (ALL_OLD of its PutItem) and decided to resume; right
    // before its UpdateItem goes out, the winner resumes the record.
    const loser = recordingClient(async (name) => {
      if (name === 'UpdateItem' && won === undefined) won = await winner.begin(scope, 'k', 'h');
    });
    const lost = await storeOn(loser.client, clock).begin(scope, 'k', 'h');
    expect(won).toMatchObject({ state: 'resume', fixed });
    expect(lost).toEqual({ state: 'in_progress' });
    // Decided again on ALL_OLD of the failed update: no extra read.
    expect(loser.calls).toEqual(['PutItem', 'UpdateItem']);
  });

  it('a slow owner’s fix after a takeover: refused by the condition, nothing of it stored', async () => {
    const clock = { t: 0, now: () => clock.t };
    const scope = uniqueName('slow');
    const slow = recordingClient();
    const slowStore = storeOn(slow.client, clock);
    const slowOwner = ownerOf(await slowStore.begin(scope, 'k', 'h'));
    clock.t += IDEMPOTENCY_LEASE_MS; // it signs for longer than its lease
    const quick = storeOn(client, clock);
    const quickOwner = ownerOf(await quick.begin(scope, 'k', 'h'));

    slow.calls.length = 0;
    // Its remembered record is stale: the conditional update fails, and ALL_OLD decides.
    expect(await slowStore.fix(scope, 'k', slowOwner, [signedRequest()])).toBe(false);
    expect(slow.calls).toEqual(['UpdateItem']);
    const fixed = [signedRequest()];
    expect(await quick.fix(scope, 'k', quickOwner, fixed)).toBe(true);
    clock.t += IDEMPOTENCY_LEASE_MS;
    expect(await quick.begin(scope, 'k', 'h')).toMatchObject({ state: 'resume', fixed });
  });

  it('a record over the 400 KB item limit is refused, typed, before any write; the key stays free', async () => {
    const scope = uniqueName('big');
    const { calls, client: c } = recordingClient();
    const s = storeOn(c, { now: () => 0 });
    const batch = await largestBatch();
    let sent = false;
    const err = await submitOnce(
      s,
      { scope, key: 'k', bodySha256: 'h' },
      {
        // Three HTTP batches' worth under one key: only a library caller can ask for this.
        sign: () => Promise.resolve([...batch, ...batch, ...batch]),
        send: () => {
          sent = true;
          return Promise.reject(new Error('never sent'));
        },
      },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      details: { limit: 400 * 1024 },
      message: expect.stringContaining(tableName),
    });
    expect(sent).toBe(false);
    // Reserved, refused before the UpdateItem, released (nothing was signed into the record).
    expect(calls).toEqual(['PutItem', 'DeleteItem']);
    expect((await s.begin(scope, 'k', 'h')).state).toBe('new');
  });

  it('converts SDK failures into STORE_FAILED naming the table', async () => {
    const absent = uniqueName('absent');
    const s = createDynamoIdempotencyStore({ client, tableName: absent, clock: { now: () => 0 } });
    const err = await s.begin('s', 'k', 'h').catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'STORE_FAILED',
      details: { code: 'ResourceNotFoundException', retryable: false },
    });
    expect((err as Error).message).toContain(`idempotency table ${absent}: PutItem failed`);
  });

  it('builds its own client from the environment (AWS_ENDPOINT_URL) when given none', async () => {
    const scope = uniqueName('env');
    const s = createDynamoIdempotencyStore({ tableName, clock: { now: () => 0 } });
    const owner = ownerOf(await s.begin(scope, 'k', 'h'));
    expect(await storeOn(client, { now: () => 0 }).begin(scope, 'k', 'h')).toEqual({
      state: 'in_progress',
    });
    await s.release(scope, 'k', owner);
    await s.close?.();
  });
});
