// DynamoDB adapter of the IdempotencyStore (AWS mode): the records outlive a Lambda container
// or a crashed process, so a retry that reaches another requester resumes the same jti.
//
// Every call decides with the shared transitions of idempotency-store.ts (the memory and SQLite
// adapters make the same decisions) and writes the outcome conditionally, on the revision of the
// record it decided on (Powertools' idempotency pattern, item layout in dynamo-idempotency-item):
//
//   begin    PutItem attribute_not_exists(pk)          a new key: one call, the common case
//            └─ ConditionalCheckFailed, ALL_OLD ──▶ decide on the record DynamoDB returned
//               (replay / conflict / in_progress: no write; reserve afresh or resume after
//               the lease: UpdateItem on its rev)
//   fix, complete, release
//            UpdateItem (DeleteItem for a dropped reservation) on rev AND owner
//            └─ ConditionalCheckFailed, ALL_OLD ──▶ decide again on what is there now
//
// A decision made on a guess (the key absent, or the record this store last wrote for the owner)
// only stands through its conditional write; a decision to write nothing is made on a consistent
// read. Two requesters racing for one key: exactly one conditional write wins, the other decides
// again on the winner's record. A rev is random, so a record deleted by TTL and created again
// never matches an old decision.
import { randomUUID } from 'node:crypto';
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  checkItemSize,
  idempotencyPk,
  itemToStored,
  recordToItem,
  type Item,
  type StoredRecord,
} from './dynamo-idempotency-item.ts';
import { dynamoStoreFailure, RequesterError } from './errors.ts';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_TTL_MS,
  beginTransition,
  completeTransition,
  fixTransition,
  releaseTransition,
  type IdempotencyRecord,
  type IdempotencyStore,
  type IdempotencyStoreOptions,
  type Limits,
  type Transition,
} from './idempotency-store.ts';

export interface DynamoIdempotencyStoreOptions extends IdempotencyStoreOptions {
  readonly tableName: string;
  /**
   * An SDK client (tests, custom configuration). Default: a new DynamoDBClient, which takes
   * region, credentials and AWS_ENDPOINT_URL from the environment; `close` destroys it.
   */
  readonly client?: DynamoDBClient;
}

/** Conditional writes lost to other writers before a call gives up (retryable STORE_FAILED). */
const MAX_CONFLICTS = 5;
/** Records remembered per owner to skip a read in fix/complete; a miss costs one GetItem. */
const MAX_HINTS = 512;

type Outcome =
  { readonly won: true } | { readonly won: false; readonly now: StoredRecord | undefined };

export function createDynamoIdempotencyStore(
  options: DynamoIdempotencyStoreOptions,
): IdempotencyStore {
  const { tableName } = options;
  const ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS;
  const leaseMs = options.leaseMs ?? IDEMPOTENCY_LEASE_MS;
  const where = `idempotency table ${tableName}`;
  const client = options.client ?? new DynamoDBClient({});
  /** owner → the record this store last wrote for it. */
  const hints = new Map<string, { readonly pk: string; readonly stored: StoredRecord }>();

  const failed = (operation: string, err: unknown): Error =>
    dynamoStoreFailure(where, operation, err);

  async function read(pk: string): Promise<StoredRecord | undefined> {
    let item: Item | undefined;
    try {
      const out = await client.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
      );
      item = out.Item;
    } catch (err) {
      throw failed('GetItem', err);
    }
    return item === undefined ? undefined : itemToStored(item, where);
  }

  /** Replaces `prev` (or its absence) by `next`, if it is still what is stored. */
  async function write(
    pk: string,
    prev: StoredRecord | undefined,
    next: IdempotencyRecord | null,
    fence: string | undefined,
  ): Promise<Outcome> {
    const rev = randomUUID();
    const item = next === null ? undefined : recordToItem(pk, next, rev, ttlMs);
    if (item) checkItemSize(item, where);
    const [operation, command] = writeCommand(tableName, pk, prev, item, fence);
    try {
      await command(client);
    } catch (err) {
      if ((err as { name?: unknown } | null)?.name !== 'ConditionalCheckFailedException') {
        throw failed(operation, err);
      }
      const old = (err as { Item?: Item }).Item;
      return {
        won: false,
        now: old && Object.keys(old).length > 0 ? itemToStored(old, where) : await read(pk),
      };
    }
    if (prev?.record.owner) hints.delete(prev.record.owner);
    if (item && next?.owner) remember(next.owner, pk, { record: next, rev, item });
    return { won: true };
  }

  function remember(owner: string, pk: string, stored: StoredRecord): void {
    hints.set(owner, { pk, stored });
    if (hints.size > MAX_HINTS) hints.delete(hints.keys().next().value!);
  }

  /**
   * Decides on `guess` (known = read from the table), writes the outcome conditionally, and
   * decides again on what is stored whenever the write finds another revision.
   */
  async function apply<R>(
    pk: string,
    decide: (existing: IdempotencyRecord | undefined, limits: Limits) => Transition<R>,
    start: { readonly guess: StoredRecord | undefined; readonly known: boolean },
    fence?: string,
  ): Promise<R> {
    let { guess: current, known } = start;
    for (let conflicts = 0; ;) {
      const { record, result } = decide(current?.record, {
        now: options.clock.now(),
        ttlMs,
        leaseMs,
      });
      if (record === undefined) {
        if (known) {
          if (fence !== undefined) hints.delete(fence);
          return result;
        }
        [current, known] = [await read(pk), true];
        continue;
      }
      const outcome = await write(pk, current, record, fence);
      if (outcome.won) return result;
      if (++conflicts >= MAX_CONFLICTS) {
        throw new RequesterError('STORE_FAILED', `${where}: the record kept changing; retry`, {
          details: { code: 'TooManyConflicts', retryable: true },
        });
      }
      [current, known] = [outcome.now, true];
    }
  }

  /** Where an owner's call starts: the record this store last wrote for it, or a read. */
  async function startFor(pk: string, owner: string) {
    const hint = hints.get(owner);
    if (hint?.pk === pk) return { guess: hint.stored, known: false };
    return { guess: await read(pk), known: true };
  }

  return {
    // No `peek`: a read is a round trip, so keys are reserved before signing (no Sign is spent
    // on a retry that replays).
    begin: (scope, key, bodySha256, fixed) =>
      apply(
        idempotencyPk(scope, key),
        (existing, limits) => beginTransition(existing, bodySha256, limits, randomUUID(), fixed),
        { guess: undefined, known: false },
      ),
    fix: async (scope, key, owner, fixed) => {
      const pk = idempotencyPk(scope, key);
      return apply(
        pk,
        (existing, limits) => fixTransition(existing, owner, fixed, limits),
        await startFor(pk, owner),
        owner,
      );
    },
    complete: async (scope, key, owner, response) => {
      const pk = idempotencyPk(scope, key);
      return apply(
        pk,
        (existing) => completeTransition(existing, owner, response),
        await startFor(pk, owner),
        owner,
      );
    },
    release: async (scope, key, owner) => {
      const pk = idempotencyPk(scope, key);
      return apply(
        pk,
        (existing, limits) => releaseTransition(existing, owner, limits),
        await startFor(pk, owner),
        owner,
      );
    },
    close: () => {
      hints.clear();
      if (options.client === undefined) client.destroy();
      return Promise.resolve();
    },
  };
}

/**
 * The conditional write that turns `prev` (absent: PutItem on attribute_not_exists) into `item`
 * (absent: DeleteItem), on prev's rev, and on the owner for the owner's own calls.
 */
function writeCommand(
  tableName: string,
  pk: string,
  prev: StoredRecord | undefined,
  item: Item | undefined,
  fence: string | undefined,
): [string, (client: DynamoDBClient) => Promise<unknown>] {
  const onFailure = { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } as const;
  if (prev === undefined) {
    if (item === undefined) throw new RequesterError('STORE_FAILED', 'nothing to delete');
    const put = { TableName: tableName, Item: item, ...onFailure };
    return [
      'PutItem',
      (c) =>
        c.send(new PutItemCommand({ ...put, ConditionExpression: 'attribute_not_exists(pk)' })),
    ];
  }
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = {};
  const name = (n: string) => ((names[`#${n}`] = n), `#${n}`);
  const value = (v: AttributeValue) => {
    const placeholder = `:v${Object.keys(values).length}`;
    values[placeholder] = v;
    return placeholder;
  };
  const base = { TableName: tableName, Key: { pk: { S: pk } }, ...onFailure };
  if (item === undefined) {
    const condition = onRevision(prev.rev, fence, name, value);
    return [
      'DeleteItem',
      (c) =>
        c.send(
          new DeleteItemCommand({
            ...base,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        ),
    ];
  }
  // Only what changed: a complete does not send the kept tokens again, it removes them.
  const set = Object.entries(item)
    .filter(([n, v]) => n !== 'pk' && !sameValue(prev.item[n], v))
    .map(([n, v]) => `${name(n)} = ${value(v)}`);
  const remove = Object.keys(prev.item)
    .filter((n) => !(n in item))
    .map(name);
  const update = `SET ${set.join(', ')}` + (remove.length ? ` REMOVE ${remove.join(', ')}` : '');
  const condition = onRevision(prev.rev, fence, name, value);
  return [
    'UpdateItem',
    (c) =>
      c.send(
        new UpdateItemCommand({
          ...base,
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      ),
  ];
}

function onRevision(
  rev: string,
  fence: string | undefined,
  name: (n: string) => string,
  value: (v: AttributeValue) => string,
): string {
  const onRev = `${name('rev')} = ${value({ S: rev })}`;
  return fence === undefined ? onRev : `${onRev} AND ${name('owner')} = ${value({ S: fence })}`;
}

function sameValue(a: AttributeValue | undefined, b: AttributeValue): boolean {
  return a !== undefined && a.S === b.S && a.N === b.N;
}
