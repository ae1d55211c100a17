// The DynamoDB item of an idempotency record: what is written, what is read back (a tampered
// item is STORE_FAILED, never sent), and the 400 KB item limit against the largest batch.
import { describe, expect, it } from 'vitest';
import {
  DYNAMO_MAX_ITEM_BYTES,
  checkItemSize,
  idempotencyPk,
  itemBytes,
  itemToStored,
  recordToItem,
} from './dynamo-idempotency-item.ts';
import { IDEMPOTENCY_TTL_MS, type IdempotencyRecord } from './idempotency-store.ts';
import { largestBatch, signedRequest } from './testing/index.ts';

const where = 'idempotency table t';
const reserved: IdempotencyRecord = {
  bodySha256: 'h',
  createdAt: 1_800_000_000_001,
  leaseUntil: 1_800_000_060_001,
  owner: 'o-1',
  fixed: null,
  response: null,
};

describe('idempotency record as a DynamoDB item', () => {
  it('round-trips every state; ttl is createdAt + 24 h in epoch seconds, rounded up', () => {
    const fixed = [signedRequest(), { ok: false as const, code: 'SIGNING_FAILED', message: 'no' }];
    for (const record of [
      reserved,
      { ...reserved, fixed },
      { ...reserved, owner: null, response: { status: 202, body: { jti: 'j' } } },
    ]) {
      const item = recordToItem(idempotencyPk('s', 'k'), record, 'rev-1', IDEMPOTENCY_TTL_MS);
      expect(itemToStored(item, where)).toEqual({ record, rev: 'rev-1', item });
      expect(item.ttl).toEqual({ N: '1800086401' });
    }
    // Absent values are absent attributes, not empty ones (complete drops the tokens).
    const done = recordToItem('pk', { ...reserved, owner: null }, 'r', IDEMPOTENCY_TTL_MS);
    expect(Object.keys(done).sort()).toEqual(
      ['bodySha256', 'createdAt', 'leaseUntil', 'pk', 'rev', 'ttl'].sort(),
    );
  });

  it('keys (scope, key) unambiguously', () => {
    expect(idempotencyPk('a#b', 'c')).not.toBe(idempotencyPk('a', 'b#c'));
    expect(idempotencyPk('ab', 'c')).not.toBe(idempotencyPk('a', 'bc'));
  });

  it('fits the largest batch the HTTP API makes with room to spare; refuses a larger record, typed', async () => {
    const fixed = await largestBatch();
    const record = { ...reserved, fixed };
    // The longest scope (an API key name) and Idempotency-Key the HTTP API accepts.
    const item = recordToItem(
      idempotencyPk('n'.repeat(64), 'k'.repeat(255)),
      record,
      'r',
      IDEMPOTENCY_TTL_MS,
    );
    expect(itemBytes(item)).toBeLessThan(DYNAMO_MAX_ITEM_BYTES / 2);
    expect(() => checkItemSize(item, where)).not.toThrow();

    const tooBig = recordToItem(
      'pk',
      { ...record, fixed: [...fixed, ...fixed, ...fixed] },
      'r',
      IDEMPOTENCY_TTL_MS,
    );
    expect(() => checkItemSize(tooBig, where)).toThrow(
      expect.objectContaining({
        code: 'PAYLOAD_TOO_LARGE',
        message: expect.stringContaining('idempotency table t: the record would take'),
        details: { bytes: itemBytes(tooBig), limit: DYNAMO_MAX_ITEM_BYTES },
      }),
    );
  });

  it('counts names and values as DynamoDB does, numbers at their 21-byte maximum', () => {
    expect(itemBytes({ pk: { S: 'ab' }, n: { N: '1' }, é: { S: 'é' } })).toBe(
      2 + 2 + 1 + 21 + 2 + 2,
    );
  });

  it('reads a tampered item as STORE_FAILED naming the table and the field', () => {
    const good = recordToItem('pk', { ...reserved, fixed: [signedRequest()] }, 'r', 1);
    const swapped = signedRequest();
    for (const [field, item] of [
      ['rev', { ...good, rev: { S: '' } }],
      ['createdAt', { ...good, createdAt: { N: '1.5' } }],
      ['leaseUntil', { ...good, leaseUntil: { S: '5' } }],
      ['bodySha256', { ...good, bodySha256: { N: '5' } }],
      ['owner', { ...good, owner: { N: '1' } }],
      ['fixed', { ...good, fixed: { S: '{not json' } }],
      // A token whose jti is not the recorded one would be sent as another order.
      [
        'fixed',
        { ...good, fixed: { S: JSON.stringify([{ ...swapped, jti: signedRequest().jti }]) } },
      ],
      ['response', { ...good, response: { S: '{"status":"202"}' } }],
    ] as const) {
      expect(() => itemToStored(item, where), field).toThrow(
        expect.objectContaining({
          code: 'STORE_FAILED',
          message: expect.stringContaining(where),
        }),
      );
    }
  });
});
