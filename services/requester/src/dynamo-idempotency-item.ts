// How an idempotency record is laid out as one DynamoDB item, and read back. The table is input
// like any other: an item this requester did not write is STORE_FAILED, never sent.
//
//   pk          S  JSON ["<scope>","<key>"] (unambiguous whatever the scope and key contain)
//   bodySha256  S  what the key stands for
//   createdAt   N  first begin (epoch ms)     leaseUntil N  the owner's lease (epoch ms)
//   owner       S  absent once completed or released
//   fixed       S  JSON of the signed requests; absent before fix and after complete
//   response    S  JSON of the answer; absent until complete
//   rev         S  random per write: every conditional write names the rev it decided on
//   ttl         N  createdAt + 24 h in epoch SECONDS, for DynamoDB TTL (lazy: an item past it
//                  may still be read, and the shared transitions treat it as gone)
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { RequesterError } from './errors.ts';
import { parseFixed, parseResponse, type IdempotencyRecord } from './idempotency-store.ts';

export type Item = Record<string, AttributeValue>;

/** A record as stored, with the revision a conditional write must find to replace it. */
export interface StoredRecord {
  readonly record: IdempotencyRecord;
  readonly rev: string;
  readonly item: Item;
}

/**
 * DynamoDB's item limit: 400 KB, attribute names and values together. The largest record the
 * HTTP API makes (100 signed requests of the largest token the requester can sign, see
 * `largestBatch`) takes about 175 KB (a token of at most 1.6 KB).
 */
export const DYNAMO_MAX_ITEM_BYTES = 400 * 1024;

export const idempotencyPk = (scope: string, key: string): string => JSON.stringify([scope, key]);

/** DynamoDB TTL wants epoch seconds; rounded up so an item never goes before its 24 h. */
const ttlSeconds = (epochMs: number): number => Math.ceil(epochMs / 1000);

export function recordToItem(pk: string, r: IdempotencyRecord, rev: string, ttlMs: number): Item {
  const item: Item = {
    pk: { S: pk },
    bodySha256: { S: r.bodySha256 },
    createdAt: { N: String(r.createdAt) },
    leaseUntil: { N: String(r.leaseUntil) },
    rev: { S: rev },
    ttl: { N: String(ttlSeconds(r.createdAt + ttlMs)) },
  };
  if (r.owner !== null) item.owner = { S: r.owner };
  if (r.fixed !== null) item.fixed = { S: JSON.stringify(r.fixed) };
  if (r.response !== null) item.response = { S: JSON.stringify(r.response) };
  return item;
}

/** An upper bound of the item's size as DynamoDB counts it (a number takes at most 21 bytes). */
export function itemBytes(item: Item): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    bytes += value.S !== undefined ? Buffer.byteLength(value.S) : value.N !== undefined ? 21 : 0;
  }
  return bytes;
}

/** Refuses (typed, before any write) a record DynamoDB could not store. */
export function checkItemSize(item: Item, where: string): void {
  const bytes = itemBytes(item);
  if (bytes > DYNAMO_MAX_ITEM_BYTES) {
    throw new RequesterError(
      'PAYLOAD_TOO_LARGE',
      `${where}: the record would take ${bytes} bytes, more than DynamoDB's ${DYNAMO_MAX_ITEM_BYTES}; send fewer requests per batch`,
      { details: { bytes, limit: DYNAMO_MAX_ITEM_BYTES } },
    );
  }
}

export function itemToStored(item: Item, where: string): StoredRecord {
  const corrupt = (field: string) =>
    new RequesterError('STORE_FAILED', `${where}: a stored record is corrupt (${field})`, {
      details: { field },
    });
  const text = (name: string, required: boolean): string | null => {
    const value = item[name];
    if (value === undefined && !required) return null;
    if (typeof value?.S !== 'string' || value.S === '') throw corrupt(name);
    return value.S;
  };
  const int = (name: string): number => {
    const n = Number(item[name]?.N);
    if (!Number.isSafeInteger(n)) throw corrupt(name);
    return n;
  };
  const fixed = text('fixed', false);
  const response = text('response', false);
  return {
    record: {
      bodySha256: text('bodySha256', true)!,
      createdAt: int('createdAt'),
      leaseUntil: int('leaseUntil'),
      owner: text('owner', false),
      fixed: fixed === null ? null : parseFixed(fixed, where),
      response: response === null ? null : parseResponse(response, where),
    },
    rev: text('rev', true)!,
    item,
  };
}
