// The TransactionStore contract, run against every adapter: memory and SQLite in the unit project
// (transaction-store.test.ts), DynamoDB on moto (test/requester-status-aws.test.ts). Every test
// uses fresh jtis, so an adapter may keep one file or table for the whole suite.
import { describe, expect, it } from 'vitest';
import { newJti, type Outcome } from '@countersign/contracts';
import type { TransactionStore, VerifiedReceipt } from '../transaction-store.ts';

export interface TransactionStoreHarness {
  open(): TransactionStore;
  /** Two stores opened by one harness see each other's records (a file, a table). */
  readonly shared: boolean;
}

const ISS = 'bot-contract';

function receipt(jti: string, outcome: Outcome, account = 'acct-1', iss = ISS): VerifiedReceipt {
  const receiptJti = newJti();
  return { iss, jti, account, outcome, receiptJti, receipt: `h.${receiptJti}.s` };
}

export function describeTransactionStoreContract(
  name: string,
  harness: () => TransactionStoreHarness,
): void {
  describe(`${name} transaction store (contract)`, () => {
    it('remembers an order: queued, with its account; an unknown jti is undefined', async () => {
      const store = harness().open();
      const jti = newJti();
      await store.remember([{ iss: ISS, jti, account: 'acct-1' }]);
      expect(await store.get({ iss: ISS, jti })).toEqual({
        iss: ISS,
        jti,
        account: 'acct-1',
        outcome: null,
        storedReceipt: null,
      });
      expect(await store.get({ iss: ISS, jti: newJti() })).toBeUndefined();
      // Keyed by issuer too: another requester's order with the same jti is another order.
      expect(await store.get({ iss: 'someone-else', jti })).toBeUndefined();
      await store.close?.();
    });

    it('stores a receipt once; a duplicate or a later final receipt changes nothing', async () => {
      const store = harness().open();
      const jti = newJti();
      await store.remember([{ iss: ISS, jti, account: 'acct-1' }]);
      const first = receipt(jti, 'REJECTED');
      expect(await store.putReceipts([first])).toEqual([{ iss: ISS, jti }]);
      expect(await store.putReceipts([first])).toEqual([]);
      expect(await store.putReceipts([receipt(jti, 'EXECUTED')])).toEqual([]);
      expect(await store.putReceipts([receipt(jti, 'UNKNOWN')])).toEqual([]);
      expect(await store.get({ iss: ISS, jti })).toMatchObject({
        outcome: 'REJECTED',
        storedReceipt: first.receipt,
      });
      await store.close?.();
    });

    it('a final receipt replaces an UNKNOWN one (the follow-up after a timeout)', async () => {
      const store = harness().open();
      const jti = newJti();
      await store.remember([{ iss: ISS, jti, account: 'acct-1' }]);
      await store.putReceipts([receipt(jti, 'UNKNOWN')]);
      const followUp = receipt(jti, 'EXECUTED');
      expect(await store.putReceipts([followUp])).toEqual([{ iss: ISS, jti }]);
      expect(await store.get({ iss: ISS, jti })).toMatchObject({
        outcome: 'EXECUTED',
        storedReceipt: followUp.receipt,
      });
      await store.close?.();
    });

    it('remembering again never undoes a receipt, nor changes the account', async () => {
      const store = harness().open();
      const jti = newJti();
      await store.remember([{ iss: ISS, jti, account: 'acct-1' }]);
      const r = receipt(jti, 'EXECUTED');
      await store.putReceipts([r]);
      await store.remember([{ iss: ISS, jti, account: 'acct-2' }]);
      expect(await store.get({ iss: ISS, jti })).toEqual({
        iss: ISS,
        jti,
        account: 'acct-1',
        outcome: 'EXECUTED',
        storedReceipt: r.receipt,
      });
      await store.close?.();
    });

    it("a receipt for an order it never saw is kept under the receipt's account", async () => {
      const store = harness().open();
      const jti = newJti();
      const r = receipt(jti, 'FAILED', 'acct-7');
      expect(await store.putReceipts([r])).toEqual([{ iss: ISS, jti }]);
      expect(await store.get({ iss: ISS, jti })).toMatchObject({
        account: 'acct-7',
        outcome: 'FAILED',
      });
      await store.close?.();
    });

    it('remembers many orders in one call', async () => {
      const store = harness().open();
      const orders = Array.from({ length: 40 }, (_, i) => ({
        iss: ISS,
        jti: newJti(),
        account: `acct-${i % 3}`,
      }));
      await store.remember(orders);
      for (const o of orders) {
        expect((await store.get(o))?.account).toBe(o.account);
      }
      await store.close?.();
    });

    // Only for adapters with shared data (not registered for the in-memory store).
    if (!harness().shared) return;
    it('another store on the same data sees the records', async () => {
      const h = harness();
      const a = h.open();
      const b = h.open();
      const jti = newJti();
      await a.remember([{ iss: ISS, jti, account: 'acct-1' }]);
      await a.putReceipts([receipt(jti, 'EXECUTED')]);
      expect((await b.get({ iss: ISS, jti }))?.outcome).toBe('EXECUTED');
      await a.close?.();
      await b.close?.();
    });
  });
}
