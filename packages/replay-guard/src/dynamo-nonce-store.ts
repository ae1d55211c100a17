// The DynamoDB NonceStore. One table, string partition key `pk`:
//   pk = <key>             nonce: state, owner, leaseUntil, expiresAt, attempts, receipt,
//                          request, messageId, requestSha256 and claimedAt (from the first
//                          claim; kept by takeover and complete), ttl (epoch SECONDS, for TTL)
//   pk = stream#<stream>   chain head: seq, hash (no ttl: heads live forever)
// Nonce keys are `iss#jti` or `msg#<messageId>`; a stream always contains '/', a jti never
// does, so the two kinds of item cannot collide.
//
// claim    = PutItem attribute_not_exists(pk), ReturnValuesOnConditionCheckFailure ALL_OLD: the
//            conflict itself carries the existing record (no second read).
// takeover = UpdateItem conditioned on state = IN_PROGRESS AND leaseUntil <= now AND the
//            attempts we saw, so of two racing takers exactly one wins.
// complete = TransactWriteItems: the nonce (IN_PROGRESS for this owner, or absent for a direct
//            complete) and the stream head (at seq - 1 with the hash the receipt was signed on)
//            change together or not at all.
//
// TTL: DynamoDB deletes expired items lazily (often within days). An item past its ttl but not
// yet deleted is still answered as it is: a COMPLETED one keeps refusing (safe: its token is
// dead, exp + skew has passed, so no legitimate request needs the key), an IN_PROGRESS one
// with a run-out lease can be taken over like any other.
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { GENESIS_PREV } from '@countersign/contracts';
import type {
  ChainHead,
  ClaimOptions,
  ClaimResult,
  CompleteOptions,
  NonceRecord,
  NonceStore,
  RestoredRecord,
} from './ports.ts';
import { chainConflict, fromSdkError, nonceConflict, storeError } from './errors.ts';

export interface DynamoNonceStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

type Item = Record<string, AttributeValue>;

const STREAM_PREFIX = 'stream#';
const TAKEOVER_RETRIES = 3;

const n = (v: number): AttributeValue => ({ N: String(v) });
const s = (v: string): AttributeValue => ({ S: v });
const num = (item: Item, name: string): number => Number(item[name]?.N ?? 'NaN');
const str = (item: Item, name: string): string | undefined => item[name]?.S;

/** DynamoDB TTL wants epoch seconds; round up so the item never dies before expiresAt. */
export const ttlSeconds = (expiresAt: number): number => Math.ceil(expiresAt / 1000);

export function itemToRecord(item: Item): NonceRecord {
  const key = str(item, 'pk');
  const state = str(item, 'state');
  const expiresAt = num(item, 'expiresAt');
  if (key === undefined || Number.isNaN(expiresAt)) {
    throw storeError('a nonce item is missing pk or expiresAt', { state: state ?? null });
  }
  const requestSha256 = str(item, 'requestSha256');
  const claimedAt = item.claimedAt?.N === undefined ? undefined : Number(item.claimedAt.N);
  const sha = {
    ...(requestSha256 === undefined ? {} : { requestSha256 }),
    ...(claimedAt === undefined ? {} : { claimedAt }),
  };
  if (state === 'COMPLETED') {
    return {
      key,
      state,
      expiresAt,
      stored: {
        receipt: str(item, 'receipt') ?? '',
        request: item.request?.NULL ? null : (str(item, 'request') ?? null),
        messageId: str(item, 'messageId') ?? '',
      },
      ...sha,
    };
  }
  if (state === 'IN_PROGRESS') {
    return {
      key,
      state,
      owner: str(item, 'owner') ?? '',
      leaseUntil: num(item, 'leaseUntil'),
      expiresAt,
      attempts: num(item, 'attempts'),
      ...sha,
    };
  }
  throw storeError('a nonce item has an unknown state', { key, state: state ?? null });
}

export function createDynamoNonceStore(options: DynamoNonceStoreOptions): NonceStore {
  const { client, tableName } = options;

  async function read(pk: string): Promise<Item | undefined> {
    try {
      const out = await client.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: s(pk) }, ConsistentRead: true }),
      );
      return out.Item;
    } catch (err) {
      throw fromSdkError('GetItem', err);
    }
  }

  /** The existing record after a failed conditional write (ALL_OLD if we got it, else a read). */
  async function existingAfterConflict(
    key: string,
    err: unknown,
  ): Promise<NonceRecord | undefined> {
    const old = (err as { Item?: Item }).Item;
    if (old && Object.keys(old).length > 0) return itemToRecord(old);
    const item = await read(key);
    return item ? itemToRecord(item) : undefined;
  }

  async function tryTakeover(
    key: string,
    previous: NonceRecord & { state: 'IN_PROGRESS' },
    o: ClaimOptions,
  ): Promise<boolean> {
    const expiresAt = Math.max(previous.expiresAt, o.expiresAt);
    // The first claim's request hash stays; a record from before it had none gets this one.
    const keepSha =
      o.requestSha256 === undefined ? '' : ', requestSha256 = if_not_exists(requestSha256, :sha)';
    try {
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { pk: s(key) },
          UpdateExpression: `SET #owner = :owner, leaseUntil = :lease, attempts = :next, expiresAt = :exp, #ttl = :ttl${keepSha}`,
          ConditionExpression: '#state = :inProgress AND leaseUntil <= :now AND attempts = :seen',
          ExpressionAttributeNames: { '#owner': 'owner', '#state': 'state', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':owner': s(o.owner),
            ':lease': n(o.now + o.leaseMs),
            ':next': n(previous.attempts + 1),
            ':seen': n(previous.attempts),
            ':exp': n(expiresAt),
            ':ttl': n(ttlSeconds(expiresAt)),
            ':inProgress': s('IN_PROGRESS'),
            ':now': n(o.now),
            ...(o.requestSha256 === undefined ? {} : { ':sha': s(o.requestSha256) }),
          },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) {
        return false;
      }
      throw fromSdkError('UpdateItem', err);
    }
  }

  return {
    async claim(key, o): Promise<ClaimResult> {
      for (let round = 0; ; round++) {
        let existing: NonceRecord | undefined;
        try {
          await client.send(
            new PutItemCommand({
              TableName: tableName,
              Item: {
                pk: s(key),
                state: s('IN_PROGRESS'),
                owner: s(o.owner),
                leaseUntil: n(o.now + o.leaseMs),
                expiresAt: n(o.expiresAt),
                attempts: n(1),
                claimedAt: n(o.now),
                ttl: n(ttlSeconds(o.expiresAt)),
                ...(o.requestSha256 === undefined ? {} : { requestSha256: s(o.requestSha256) }),
              },
              ConditionExpression: 'attribute_not_exists(pk)',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
          );
          return { claimed: true, takeover: false };
        } catch (err) {
          if (!isConditionFailed(err)) {
            throw fromSdkError('PutItem', err);
          }
          existing = await existingAfterConflict(key, err);
        }
        // Deleted (TTL) between our put and our read: try the put again.
        if (existing === undefined) {
          if (round < TAKEOVER_RETRIES) continue;
          throw storeError('the nonce record kept changing during claim', { key });
        }
        if (existing.state !== 'IN_PROGRESS' || existing.leaseUntil > o.now) {
          return { claimed: false, existing };
        }
        if (await tryTakeover(key, existing, o)) {
          return { claimed: true, takeover: true, previous: existing };
        }
        // Someone else took it over first (or completed it): report what is there now.
        const now = await read(key);
        if (now) {
          const record = itemToRecord(now);
          if (record.state !== 'IN_PROGRESS' || record.leaseUntil > o.now) {
            return { claimed: false, existing: record };
          }
        }
        if (round >= TAKEOVER_RETRIES) {
          throw storeError('the nonce record kept changing during claim', { key });
        }
      }
    },

    async complete(key, o: CompleteOptions) {
      const { head, stored } = o;
      if (!Number.isInteger(head.seq) || head.seq < 1) {
        throw storeError('head.seq must be an integer ≥ 1', { seq: head.seq });
      }
      // Seq 1 follows the empty stream, whose hash is the genesis value: nothing else chains.
      if (head.seq === 1 && o.prev !== GENESIS_PREV) throw chainConflict(head.stream, 0, 0, true);
      const nonceUpdate: TransactWriteItem = {
        Update: {
          TableName: tableName,
          Key: { pk: s(key) },
          UpdateExpression:
            'SET #state = :completed, expiresAt = :exp, #ttl = :ttl, receipt = :receipt, ' +
            '#request = :request, messageId = :messageId REMOVE #owner, leaseUntil',
          // Absent (a direct complete of a message that never claimed) or ours.
          ConditionExpression:
            'attribute_not_exists(pk) OR (#state = :inProgress AND #owner = :owner)',
          ExpressionAttributeNames: {
            '#state': 'state',
            '#owner': 'owner',
            '#ttl': 'ttl',
            '#request': 'request',
          },
          ExpressionAttributeValues: {
            ':completed': s('COMPLETED'),
            ':inProgress': s('IN_PROGRESS'),
            ':owner': s(o.owner),
            ':exp': n(o.expiresAt),
            ':ttl': n(ttlSeconds(o.expiresAt)),
            ':receipt': s(stored.receipt),
            ':request': stored.request === null ? { NULL: true } : s(stored.request),
            ':messageId': s(stored.messageId),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      };
      const headKey = { pk: s(STREAM_PREFIX + head.stream) };
      const headWrite: TransactWriteItem =
        head.seq === 1
          ? {
              Put: {
                TableName: tableName,
                Item: { ...headKey, seq: n(1), hash: s(head.hash) },
                ConditionExpression: 'attribute_not_exists(pk)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            }
          : {
              Update: {
                TableName: tableName,
                Key: headKey,
                UpdateExpression: 'SET seq = :seq, #hash = :hash',
                ConditionExpression: 'seq = :prev AND #hash = :prevHash',
                ExpressionAttributeNames: { '#hash': 'hash' },
                ExpressionAttributeValues: {
                  ':seq': n(head.seq),
                  ':prev': n(head.seq - 1),
                  ':hash': s(head.hash),
                  ':prevHash': s(o.prev),
                },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            };
      try {
        await client.send(
          new TransactWriteItemsCommand({ TransactItems: [nonceUpdate, headWrite] }),
        );
      } catch (err) {
        if (!(
          err instanceof TransactionCanceledException ||
          isNamed(err, 'TransactionCanceledException')
        )) {
          throw fromSdkError('TransactWriteItems', err);
        }
        const reasons = (err as TransactionCanceledException).CancellationReasons ?? [];
        const nonceReason = reasons[0];
        const headReason = reasons[1];
        if (nonceReason?.Code === 'ConditionalCheckFailed') {
          const old = nonceReason.Item;
          const state = old ? (str(old, 'state') ?? 'unknown') : 'unknown';
          throw nonceConflict(
            key,
            state === 'IN_PROGRESS' ? 'IN_PROGRESS for another owner' : state,
          );
        }
        if (headReason?.Code === 'ConditionalCheckFailed') {
          const old = headReason.Item;
          const seq = old ? num(old, 'seq') : 0;
          throw chainConflict(head.stream, head.seq - 1, seq, seq === head.seq - 1);
        }
        // No usable reasons (e.g. a transaction conflict with a concurrent writer): look.
        if (reasons.some((r) => r.Code === 'TransactionConflict')) {
          throw storeError('the completion raced another transaction; retry', {
            code: 'TransactionConflict',
            retryable: true,
          });
        }
        throw await diagnose(key, o, err);
      }
    },

    async get(key) {
      const item = await read(key);
      return item ? itemToRecord(item) : undefined;
    },

    async head(stream): Promise<ChainHead> {
      const item = await read(STREAM_PREFIX + stream);
      if (!item) return { stream, seq: 0, hash: GENESIS_PREV };
      return { stream, seq: num(item, 'seq'), hash: str(item, 'hash') ?? GENESIS_PREV };
    },

    // Recovery: a conditional put, so a COMPLETED record (or a stream head) is never replaced.
    // An IN_PROGRESS claim is: the archived receipt proves the key completed, and a claim left
    // behind would otherwise be taken over and executed again once its lease runs out.
    async restoreCompleted(key, r: RestoredRecord) {
      if (key.startsWith(STREAM_PREFIX)) {
        throw storeError('a nonce key cannot name a stream head', { key });
      }
      const sha = r.requestSha256;
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: {
              pk: s(key),
              state: s('COMPLETED'),
              expiresAt: n(r.expiresAt),
              attempts: n(0),
              receipt: s(r.stored.receipt),
              request: r.stored.request === null ? { NULL: true } : s(r.stored.request),
              messageId: s(r.stored.messageId),
              ttl: n(ttlSeconds(r.expiresAt)),
              ...(sha === undefined ? {} : { requestSha256: s(sha) }),
            },
            ConditionExpression: 'attribute_not_exists(pk) OR #state = :inProgress',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':inProgress': s('IN_PROGRESS') },
          }),
        );
        return true;
      } catch (err) {
        if (isConditionFailed(err)) {
          return false;
        }
        throw fromSdkError('PutItem', err);
      }
    },
  };

  /** A cancelled transaction without reasons: read both items to say which condition failed. */
  async function diagnose(key: string, o: CompleteOptions, err: unknown): Promise<Error> {
    const item = await read(key);
    if (item) {
      const record = itemToRecord(item);
      if (record.state !== 'IN_PROGRESS' || record.owner !== o.owner) {
        return nonceConflict(
          key,
          record.state === 'IN_PROGRESS' ? 'IN_PROGRESS for another owner' : record.state,
        );
      }
    }
    const headItem = await read(STREAM_PREFIX + o.head.stream);
    const seq = headItem ? num(headItem, 'seq') : 0;
    if (seq !== o.head.seq - 1) return chainConflict(o.head.stream, o.head.seq - 1, seq);
    const hash = headItem ? (str(headItem, 'hash') ?? GENESIS_PREV) : GENESIS_PREV;
    if (hash !== o.prev) return chainConflict(o.head.stream, o.head.seq - 1, seq, true);
    return fromSdkError('TransactWriteItems', err);
  }
}

function isConditionFailed(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    isNamed(err, 'ConditionalCheckFailedException')
  );
}

function isNamed(err: unknown, name: string): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === name;
}
