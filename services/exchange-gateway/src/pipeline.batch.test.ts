// Batched request items (issue #20) through the gateway: each executes once under its own jti,
// a replayed item is REPLAYED, a forged one gets a REJECTED receipt with its BATCH_* code.
import { describe, expect, it } from 'vitest';
import { canonicalJson, requestBatchHeadClaims } from '@countersign/contracts';
import { createBatchSigner } from '@countersign/signing';
import { decodeUnverified } from '@countersign/verifier';
import { createHarness, REQUESTER_ID, type Harness } from './testing/index.ts';
import type { FakeBus } from './testing/index.ts';

/** Re-signs the harness's request claims as one batch (one signature for all of them). */
async function batchOf(h: Harness, n: number): Promise<string[]> {
  const batching = createBatchSigner({
    signer: h.requesterSigner,
    typ: 'txn+jwt',
    headClaims: (_items, tree) =>
      requestBatchHeadClaims({
        iss: REQUESTER_ID,
        iat: Math.floor(h.clock.now() / 1000),
        ...tree,
      }),
  });
  const claims = await Promise.all(
    Array.from({ length: n }, async (_, i) =>
      decodeUnverified(await h.token({ sub: `acct-${(i % 4) + 1}` }))!,
    ),
  );
  return Promise.all(claims.map((c) => batching.sign(c)));
}

describe('gateway: batched requests', () => {
  it('executes every item of a batch once, with receipts that hash the item text', async () => {
    const h = await createHarness();
    const items = await batchOf(h, 6);
    for (const item of items) {
      expect(await h.processor.process(h.message(item))).toMatchObject({ outcome: 'EXECUTED' });
    }
    const events = (h.bus as FakeBus).events;
    expect(events.map((e) => e.request)).toEqual(items);
    const receipts = await Promise.all(events.map((e) => h.verifyReceipt(e.receipt)));
    expect(receipts.map((r) => r.req.jti)).toEqual(items.map((i) => decodeUnverified(i)!.jti));
    expect(receipts.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('the same item in another message is REPLAYED; a forged item is REJECTED with its code', async () => {
    const h = await createHarness();
    const [a, b] = await batchOf(h, 2);
    expect(await h.processor.process(h.message(a!))).toMatchObject({ outcome: 'EXECUTED' });
    expect(await h.processor.process(h.message(a!))).toMatchObject({
      outcome: 'REJECTED',
      reason: 'REPLAYED',
    });
    const item = JSON.parse(b!) as { txn: { quantity: string } };
    item.txn.quantity = '150';
    const forged = h.message(canonicalJson(item));
    expect(await h.processor.process(forged)).toMatchObject({
      outcome: 'REJECTED',
      reason: 'BATCH_ROOT_MISMATCH',
    });
    const events = (h.bus as FakeBus).events;
    const rejected = await h.verifyReceipt(events[events.length - 1]!.receipt);
    expect(rejected.req).toMatchObject({ jti: null, iss: null });
    // The genuine item still executes: the forgery burnt no nonce.
    expect(await h.processor.process(h.message(b!))).toMatchObject({ outcome: 'EXECUTED' });
  });
});
