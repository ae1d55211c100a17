// DynamoDB adapter of the TransactionStore (aws mode). The orders live in the requester's
// idempotency table (COUNTERSIGN_IDEMPOTENCY_TABLE) under their own key prefix, one item per order:
//
//   pk          S  txn#<iss>#<jti>   (idempotency records are JSON arrays, `["…`: never this prefix;
//                                      `#` occurs in neither an id nor a jti)
//   account     S  the order's account (the token's sub)
//   createdAt   N  first write (epoch ms)       ttl N  createdAt + 14 days, epoch SECONDS
//   outcome     S  absent until a verified receipt is stored
//   receipt     S  the receipt JWS
//
// Every write is one UpdateItem that never needs a read first: `remember` sets only what is
// absent (if_not_exists), so it never undoes a receipt; a receipt is written on the condition
// that the item has none, or has an UNKNOWN one and this receipt is final (`receiptReplaces`).
// The receipts consumer's role may only touch `txn#` items (IAM dynamodb:LeadingKeys), never an
// idempotency record (which holds signed tokens).
import {
  DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { Outcomes } from '@countersign/contracts';
import type { Clock, Outcome } from '@countersign/contracts';
import { dynamoStoreFailure, RequesterError } from './errors.ts';
import {
  TRANSACTION_TTL_MS,
  receiptReplaces,
  type OrderRef,
  type TransactionRecord,
  type TransactionStore,
  type VerifiedReceipt,
} from './transaction-store.ts';

/** Key prefix of the order items in the shared table. */
export const TRANSACTION_PK_PREFIX = 'txn#';

export const transactionPk = (ref: OrderRef): string =>
  `${TRANSACTION_PK_PREFIX}${ref.iss}#${ref.jti}`;

export interface DynamoTransactionStoreOptions {
  readonly tableName: string;
  readonly clock: Clock;
  readonly ttlMs?: number;
  /** Default: a new DynamoDBClient from the environment; `close` destroys it. */
  readonly client?: DynamoDBClient;
}

/** UpdateItem calls in flight at once for one remember / putReceipts call. */
const WRITE_CONCURRENCY = 16;
const OUTCOMES: ReadonlySet<string> = new Set(Object.values(Outcomes));

export function createDynamoTransactionStore(
  options: DynamoTransactionStoreOptions,
): TransactionStore {
  const { tableName } = options;
  const ttlMs = options.ttlMs ?? TRANSACTION_TTL_MS;
  const client = options.client ?? new DynamoDBClient({});
  const where = `transaction items in table ${tableName}`;

  const failed = (operation: string, err: unknown): Error =>
    dynamoStoreFailure(where, operation, err);

  /** What an order's first write sets, and no later write changes. */
  const firstWrite = (account: string): Record<string, AttributeValue> => {
    const now = options.clock.now();
    return {
      ':account': { S: account },
      ':createdAt': { N: String(now) },
      ':ttl': { N: String(Math.ceil((now + ttlMs) / 1000)) },
    };
  };
  const SET_FIRST =
    'account = if_not_exists(account, :account), createdAt = if_not_exists(createdAt, :createdAt), #ttl = if_not_exists(#ttl, :ttl)';

  async function inBatches<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
    const out: R[] = [];
    for (let i = 0; i < items.length; i += WRITE_CONCURRENCY) {
      out.push(...(await Promise.all(items.slice(i, i + WRITE_CONCURRENCY).map(fn))));
    }
    return out;
  }

  async function putReceipt(r: VerifiedReceipt): Promise<OrderRef | undefined> {
    const final = receiptReplaces(Outcomes.UNKNOWN, r.outcome);
    try {
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { pk: { S: transactionPk(r) } },
          UpdateExpression: `SET ${SET_FIRST}, outcome = :outcome, receipt = :receipt`,
          // receiptReplaces as a condition: none stored yet, or an UNKNOWN one and this is final.
          ConditionExpression: final
            ? 'attribute_not_exists(receipt) OR outcome = :unknown'
            : 'attribute_not_exists(receipt)',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ...firstWrite(r.account),
            ':outcome': { S: r.outcome },
            ':receipt': { S: r.receipt },
            ...(final ? { ':unknown': { S: Outcomes.UNKNOWN } } : {}),
          },
        }),
      );
      return { iss: r.iss, jti: r.jti };
    } catch (err) {
      if ((err as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException') {
        return undefined; // it has this receipt already, or a final one
      }
      throw failed('UpdateItem', err);
    }
  }

  return {
    async remember(orders) {
      await inBatches(orders, async (o) => {
        try {
          await client.send(
            new UpdateItemCommand({
              TableName: tableName,
              Key: { pk: { S: transactionPk(o) } },
              UpdateExpression: `SET ${SET_FIRST}`,
              ExpressionAttributeNames: { '#ttl': 'ttl' },
              ExpressionAttributeValues: firstWrite(o.account),
            }),
          );
        } catch (err) {
          throw failed('UpdateItem', err);
        }
      });
    },

    async putReceipts(receipts) {
      const changed = await inBatches(receipts, putReceipt);
      return changed.filter((c): c is OrderRef => c !== undefined);
    },

    async get(ref) {
      let item: Record<string, AttributeValue> | undefined;
      try {
        const out = await client.send(
          new GetItemCommand({
            TableName: tableName,
            Key: { pk: { S: transactionPk(ref) } },
            // Right after a 202 the order must be found: read what was written.
            ConsistentRead: true,
          }),
        );
        item = out.Item;
      } catch (err) {
        throw failed('GetItem', err);
      }
      if (item === undefined) return undefined;
      return toRecord(ref, item, where);
    },

    close() {
      if (options.client === undefined) client.destroy();
      return Promise.resolve();
    },
  };
}

function toRecord(
  ref: OrderRef,
  item: Record<string, AttributeValue>,
  where: string,
): TransactionRecord {
  const corrupt = (field: string) =>
    new RequesterError('STORE_FAILED', `${where}: a stored order is corrupt (${field})`, {
      details: { field },
    });
  const account = item.account?.S;
  if (typeof account !== 'string' || account === '') throw corrupt('account');
  const outcome = item.outcome?.S ?? null;
  if (outcome !== null && !OUTCOMES.has(outcome)) throw corrupt('outcome');
  const receipt = item.receipt?.S ?? null;
  if ((outcome === null) !== (receipt === null)) throw corrupt('receipt');
  return {
    iss: ref.iss,
    jti: ref.jti,
    account,
    outcome: outcome as Outcome | null,
    storedReceipt: receipt,
  };
}
