// The NonceStore contract, written once and run against every adapter (SQLite in the unit
// project, DynamoDB on moto in the integration project). Keys and streams are unique per test,
// so adapters may share one table or file across tests.
import { randomUUID } from 'node:crypto';
import { GENESIS_PREV } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import type { ChainHead, NonceStore, StoredReceipt } from '../ports.ts';

export interface NonceStoreHarness {
  readonly store: NonceStore;
  /** Closes the store and opens a new one on the same data (omit if not meaningful). */
  reopen?(): Promise<NonceStore>;
  /**
   * false when the backend does not serialize conditional writes that race: moto's threaded
   * server checks a TransactWriteItems/UpdateItem condition and writes without a lock, which
   * real DynamoDB never does. The race tests then issue the same calls one after another, so
   * they still prove the conditions our adapter sends.
   */
  readonly serializesConcurrentWrites?: boolean;
}

/** All at once, or one after another when the backend cannot be raced honestly. */
async function together<T>(
  harness: NonceStoreHarness,
  calls: readonly (() => Promise<T>)[],
): Promise<PromiseSettledResult<T>[]> {
  if (harness.serializesConcurrentWrites !== false)
    return Promise.allSettled(calls.map((c) => c()));
  const out: PromiseSettledResult<T>[] = [];
  for (const call of calls) {
    try {
      out.push({ status: 'fulfilled', value: await call() });
    } catch (reason) {
      out.push({ status: 'rejected', reason });
    }
  }
  return out;
}

const T0 = 1_800_000_000_000;
const LEASE = 30_000;
const EXPIRES = T0 + 330_000;
const HASH = (c: string) => c.repeat(43).slice(0, 43);

const stored = (n: string, request: string | null = `req.${n}.sig`): StoredReceipt => ({
  receipt: `rcpt.${n}.sig`,
  request,
  messageId: `msg-${n}`,
});
const claimOpts = (owner: string, now = T0) => ({
  expiresAt: EXPIRES,
  leaseMs: LEASE,
  owner,
  now,
});
const head = (stream: string, seq: number, c = 'h'): ChainHead => ({
  stream,
  seq,
  hash: HASH(c),
});

export function describeNonceStoreContract(
  name: string,
  setup: () => Promise<NonceStoreHarness>,
): void {
  describe(`NonceStore contract: ${name}`, () => {
    const key = () => `iss-1#${randomUUID().replace(/-/g, '').slice(0, 22)}`;
    const stream = () => `gw-${randomUUID().slice(0, 8)}/0`;

    it('claims a fresh key, and get shows it IN_PROGRESS with its lease', async () => {
      const { store } = await setup();
      const k = key();
      expect(await store.claim(k, claimOpts('A'))).toEqual({ claimed: true, takeover: false });
      expect(await store.get(k)).toEqual({
        key: k,
        state: 'IN_PROGRESS',
        owner: 'A',
        leaseUntil: T0 + LEASE,
        expiresAt: EXPIRES,
        attempts: 1,
        claimedAt: T0,
      });
    });

    it('a second claim while the lease is live sees IN_PROGRESS and does not change it', async () => {
      const { store } = await setup();
      const k = key();
      await store.claim(k, claimOpts('A'));
      const second = await store.claim(k, claimOpts('B', T0 + LEASE - 1));
      expect(second).toEqual({
        claimed: false,
        existing: expect.objectContaining({
          state: 'IN_PROGRESS',
          owner: 'A',
          attempts: 1,
        }) as unknown,
      });
      expect(await store.get(k)).toMatchObject({ owner: 'A', attempts: 1 });
    });

    it('takes over an expired lease, counting attempts, and reports the previous holder', async () => {
      const { store } = await setup();
      const k = key();
      await store.claim(k, claimOpts('A'));
      const takeover = await store.claim(k, claimOpts('B', T0 + LEASE));
      expect(takeover).toEqual({
        claimed: true,
        takeover: true,
        previous: expect.objectContaining({
          state: 'IN_PROGRESS',
          owner: 'A',
          attempts: 1,
        }) as unknown,
      });
      expect(await store.get(k)).toMatchObject({
        state: 'IN_PROGRESS',
        owner: 'B',
        attempts: 2,
        leaseUntil: T0 + 2 * LEASE,
      });
      // B's lease is live now: C gets nothing.
      expect(await store.claim(k, claimOpts('C', T0 + LEASE + 1))).toMatchObject({
        claimed: false,
      });
      // ...and A, whose lease ran out, can no longer complete.
      const s = stream();
      await expect(
        store.complete(k, {
          owner: 'A',
          stored: stored('a'),
          head: head(s, 1),
          prev: GENESIS_PREV,
          expiresAt: EXPIRES,
        }),
      ).rejects.toMatchObject({ code: 'NONCE_CONFLICT' });
      expect((await store.head(s)).seq).toBe(0);
    });

    it('completes with the receipt and advances the stream head in one write', async () => {
      const { store } = await setup();
      const s = stream();
      expect(await store.head(s)).toEqual({ stream: s, seq: 0, hash: GENESIS_PREV });
      const k1 = key();
      const k2 = key();
      await store.claim(k1, claimOpts('A'));
      await store.claim(k2, claimOpts('A'));
      await store.complete(k1, {
        owner: 'A',
        stored: stored('1'),
        head: head(s, 1, 'a'),
        prev: GENESIS_PREV,
        expiresAt: EXPIRES + 1000,
      });
      expect(await store.head(s)).toEqual(head(s, 1, 'a'));
      expect(await store.get(k1)).toEqual({
        key: k1,
        state: 'COMPLETED',
        expiresAt: EXPIRES + 1000,
        stored: stored('1'),
        claimedAt: T0,
      });
      await store.complete(k2, {
        owner: 'A',
        stored: stored('2', null),
        head: head(s, 2, 'b'),
        prev: HASH('a'),
        expiresAt: EXPIRES,
      });
      expect(await store.head(s)).toEqual(head(s, 2, 'b'));
      expect(await store.get(k2)).toMatchObject({ stored: stored('2', null) });
    });

    it('CHAIN_CONFLICT when the head is not at seq - 1, and nothing is written', async () => {
      const { store } = await setup();
      const s = stream();
      const k0 = key();
      await store.complete(k0, {
        owner: 'A',
        stored: stored('0'),
        head: head(s, 1, 'a'),
        prev: GENESIS_PREV,
        expiresAt: EXPIRES,
      });
      const k = key();
      await store.claim(k, claimOpts('A'));
      for (const seq of [1, 3]) {
        await expect(
          store.complete(k, {
            owner: 'A',
            stored: stored('x'),
            head: head(s, seq, 'z'),
            prev: seq === 1 ? GENESIS_PREV : HASH('a'),
            expiresAt: EXPIRES,
          }),
        ).rejects.toMatchObject({
          code: 'CHAIN_CONFLICT',
          details: { stream: s, expectedSeq: seq - 1, actualSeq: 1 },
        });
      }
      expect(await store.head(s)).toEqual(head(s, 1, 'a'));
      expect(await store.get(k)).toMatchObject({ state: 'IN_PROGRESS', owner: 'A' });
      // A fresh key that fails on the chain is not created either.
      const fresh = key();
      await expect(
        store.complete(fresh, {
          owner: 'A',
          stored: stored('f'),
          head: head(s, 5),
          prev: HASH('x'),
          expiresAt: EXPIRES,
        }),
      ).rejects.toMatchObject({ code: 'CHAIN_CONFLICT' });
      expect(await store.get(fresh)).toBeUndefined();
    });

    it('a later claim of a completed key returns the stored receipt', async () => {
      const { store } = await setup();
      const k = key();
      await store.claim(k, claimOpts('A'));
      await store.complete(k, {
        owner: 'A',
        stored: stored('r'),
        head: head(stream(), 1),
        prev: GENESIS_PREV,
        expiresAt: EXPIRES,
      });
      // Even long after every lease: COMPLETED is final.
      expect(await store.claim(k, claimOpts('B', T0 + 10 * LEASE))).toEqual({
        claimed: false,
        existing: {
          key: k,
          state: 'COMPLETED',
          expiresAt: EXPIRES,
          stored: stored('r'),
          claimedAt: T0,
        },
      });
    });

    it('completes a never-claimed key directly, once', async () => {
      const { store } = await setup();
      const k = `msg#${randomUUID()}`;
      const s = stream();
      await store.complete(k, {
        owner: 'gw-1',
        stored: stored('rej', null),
        head: head(s, 1),
        prev: GENESIS_PREV,
        expiresAt: EXPIRES,
      });
      expect(await store.get(k)).toMatchObject({ state: 'COMPLETED', stored: stored('rej', null) });
      await expect(
        store.complete(k, {
          owner: 'gw-1',
          stored: stored('rej2', null),
          head: head(s, 2),
          prev: HASH('h'),
          expiresAt: EXPIRES,
        }),
      ).rejects.toMatchObject({ code: 'NONCE_CONFLICT', details: { state: 'COMPLETED' } });
      expect((await store.head(s)).seq).toBe(1);
      expect(await store.get(k)).toMatchObject({ stored: stored('rej', null) });
    });

    it('NONCE_CONFLICT for another owner, and nothing is written', async () => {
      const { store } = await setup();
      const k = key();
      const s = stream();
      await store.claim(k, claimOpts('A'));
      await expect(
        store.complete(k, {
          owner: 'B',
          stored: stored('b'),
          head: head(s, 1),
          prev: GENESIS_PREV,
          expiresAt: EXPIRES,
        }),
      ).rejects.toMatchObject({ code: 'NONCE_CONFLICT' });
      expect(await store.head(s)).toEqual({ stream: s, seq: 0, hash: GENESIS_PREV });
      expect(await store.get(k)).toMatchObject({ state: 'IN_PROGRESS', owner: 'A' });
    });

    it('keeps the request hash of the first claim through takeover and complete', async () => {
      const { store } = await setup();
      const k = key();
      const sha = HASH('q');
      await store.claim(k, { ...claimOpts('A'), requestSha256: sha });
      expect(await store.get(k)).toEqual({
        key: k,
        state: 'IN_PROGRESS',
        owner: 'A',
        leaseUntil: T0 + LEASE,
        expiresAt: EXPIRES,
        attempts: 1,
        requestSha256: sha,
        claimedAt: T0,
      });
      // A live lease: the refusal carries the hash (a later delivery recognizes its token by it).
      expect(await store.claim(k, { ...claimOpts('B'), requestSha256: HASH('x') })).toEqual({
        claimed: false,
        existing: expect.objectContaining({ requestSha256: sha }) as unknown,
      });
      // A takeover for other bytes does not replace it.
      expect(
        await store.claim(k, { ...claimOpts('B', T0 + LEASE), requestSha256: HASH('x') }),
      ).toMatchObject({ claimed: true, takeover: true, previous: { requestSha256: sha } });
      expect(await store.get(k)).toMatchObject({ owner: 'B', attempts: 2, requestSha256: sha });
      await store.complete(k, {
        owner: 'B',
        stored: stored('s'),
        head: head(stream(), 1),
        prev: GENESIS_PREV,
        expiresAt: EXPIRES,
      });
      expect(await store.get(k)).toEqual({
        key: k,
        state: 'COMPLETED',
        expiresAt: EXPIRES,
        stored: stored('s'),
        requestSha256: sha,
        claimedAt: T0,
      });
    });

    it('a takeover of a record claimed without a hash records the new one', async () => {
      const { store } = await setup();
      const k = key();
      await store.claim(k, claimOpts('A'));
      await store.claim(k, { ...claimOpts('B', T0 + LEASE), requestSha256: HASH('n') });
      expect(await store.get(k)).toMatchObject({ owner: 'B', requestSha256: HASH('n') });
    });

    it('keeps the time of the first claim through takeover and complete; a direct complete has none', async () => {
      const { store } = await setup();
      const k = key();
      await store.claim(k, claimOpts('A', T0 + 5));
      expect(await store.get(k)).toMatchObject({ claimedAt: T0 + 5 });
      // A takeover after the lease is a later claim, not the first one: the time stays.
      await store.claim(k, claimOpts('B', T0 + 5 + LEASE));
      expect(await store.get(k)).toMatchObject({ owner: 'B', attempts: 2, claimedAt: T0 + 5 });
      await store.complete(k, {
        owner: 'B',
        stored: stored('t'),
        head: head(stream(), 1),
        prev: GENESIS_PREV,
        expiresAt: EXPIRES,
      });
      expect(await store.get(k)).toMatchObject({ state: 'COMPLETED', claimedAt: T0 + 5 });
      const m = `msg#${randomUUID()}`;
      await store.complete(m, {
        owner: 'A',
        stored: stored('m', null),
        head: head(stream(), 1),
        prev: GENESIS_PREV,
        expiresAt: EXPIRES,
      });
      expect(await store.get(m)).not.toHaveProperty('claimedAt');
    });

    it('CHAIN_CONFLICT when the head is at seq - 1 but is not the receipt signed on (prev), and nothing is written', async () => {
      // Two writers: A signed seq 2 on its own seq 1, which lost to B's seq 1. A's seq 2 must
      // not be stored on top of B's receipt, although its seq follows the stored head.
      const { store } = await setup();
      const s = stream();
      await store.complete(key(), {
        owner: 'B',
        stored: stored('b1'),
        head: head(s, 1, 'b'),
        prev: GENESIS_PREV,
        expiresAt: EXPIRES,
      });
      const k = key();
      await store.claim(k, claimOpts('A'));
      await expect(
        store.complete(k, {
          owner: 'A',
          stored: stored('a2'),
          head: head(s, 2, 'c'),
          prev: HASH('a'),
          expiresAt: EXPIRES,
        }),
      ).rejects.toMatchObject({
        code: 'CHAIN_CONFLICT',
        details: { stream: s, expectedSeq: 1, actualSeq: 1, otherHead: true },
      });
      // Seq 1 on anything but the genesis value is refused the same way.
      await expect(
        store.complete(key(), {
          owner: 'A',
          stored: stored('x1'),
          head: head(stream(), 1, 'x'),
          prev: HASH('a'),
          expiresAt: EXPIRES,
        }),
      ).rejects.toMatchObject({ code: 'CHAIN_CONFLICT' });
      expect(await store.head(s)).toEqual(head(s, 1, 'b'));
      expect(await store.get(k)).toMatchObject({ state: 'IN_PROGRESS', owner: 'A' });
      // On the stored head it goes through.
      await store.complete(k, {
        owner: 'A',
        stored: stored('a2'),
        head: head(s, 2, 'c'),
        prev: HASH('b'),
        expiresAt: EXPIRES,
      });
      expect(await store.head(s)).toEqual(head(s, 2, 'c'));
    });

    it('restoreCompleted (recover-head) writes an absent or IN_PROGRESS key, never a COMPLETED one', async () => {
      const { store } = await setup();
      const absent = key();
      const claimed = key();
      const now = 1_800_000_000_000;
      const record = (receipt: string) => ({
        stored: { receipt, request: null, messageId: `m-${receipt}` },
        expiresAt: now + 60_000,
        requestSha256: 'sha-x',
      });
      // Absent: written, and a redelivery of the key now finds it COMPLETED (no second execution).
      expect(await store.restoreCompleted!(absent, record('r1'))).toBe(true);
      const claim = await store.claim(absent, {
        expiresAt: now + 60_000,
        leaseMs: 1000,
        owner: 'gw',
        now,
      });
      expect(claim).toMatchObject({
        claimed: false,
        existing: {
          state: 'COMPLETED',
          stored: { receipt: 'r1', request: null, messageId: 'm-r1' },
          requestSha256: 'sha-x',
        },
      });
      // COMPLETED already: never replaced.
      expect(await store.restoreCompleted!(absent, record('r2'))).toBe(false);
      expect(await store.get(absent)).toMatchObject({ stored: { receipt: 'r1' } });
      // A claim left IN_PROGRESS (its lease run out): replaced, so no takeover executes it again.
      await store.claim(claimed, {
        expiresAt: now + 60_000,
        leaseMs: 1,
        owner: 'gw',
        now,
      });
      expect(await store.restoreCompleted!(claimed, record('r3'))).toBe(true);
      expect(
        await store.claim(claimed, {
          expiresAt: now + 60_000,
          leaseMs: 1000,
          owner: 'other',
          now: now + 10_000,
        }),
      ).toMatchObject({ claimed: false, existing: { state: 'COMPLETED' } });
    });

    it('get of an unknown key is undefined', async () => {
      const { store } = await setup();
      expect(await store.get(key())).toBeUndefined();
    });

    it('concurrent claims of one key: exactly one wins', async () => {
      const { store } = await setup();
      const k = key();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.claim(k, claimOpts(`w${i}`))),
      );
      expect(results.filter((r) => r.claimed)).toHaveLength(1);
      const winner = results.findIndex((r) => r.claimed);
      for (const r of results) {
        if (!r.claimed) expect(r.existing).toMatchObject({ owner: `w${winner}` });
      }
    });

    it('concurrent takeovers of one expired lease: exactly one wins', async () => {
      const harness = await setup();
      const { store } = harness;
      const k = key();
      await store.claim(k, claimOpts('A'));
      const settled = await together(
        harness,
        Array.from({ length: 6 }, (_, i) => () => store.claim(k, claimOpts(`t${i}`, T0 + LEASE))),
      );
      const results = settled.map((r) => {
        if (r.status === 'rejected') throw r.reason;
        return r.value;
      });
      expect(results.filter((r) => r.claimed && r.takeover)).toHaveLength(1);
      expect(await store.get(k)).toMatchObject({ attempts: 2 });
    });

    it('concurrent completes on one stream: exactly one advances each seq', async () => {
      const harness = await setup();
      const { store } = harness;
      const s = stream();
      const keys = Array.from({ length: 5 }, key);
      for (const k of keys) await store.claim(k, claimOpts('A'));
      const settled = await together(
        harness,
        keys.map(
          (k, i) => () =>
            store.complete(k, {
              owner: 'A',
              stored: stored(String(i)),
              head: head(s, 1, String(i)),
              prev: GENESIS_PREV,
              expiresAt: EXPIRES,
            }),
        ),
      );
      expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of settled) {
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'CHAIN_CONFLICT' });
      }
      expect((await store.head(s)).seq).toBe(1);
    });

    it('survives a reopen', async () => {
      const harness = await setup();
      if (!harness.reopen) return;
      const k = key();
      const done = key();
      const s = stream();
      await harness.store.claim(k, claimOpts('A'));
      await harness.store.complete(done, {
        owner: 'A',
        stored: stored('d'),
        head: head(s, 1, 'd'),
        prev: GENESIS_PREV,
        expiresAt: EXPIRES,
      });
      const again = await harness.reopen();
      expect(await again.get(k)).toMatchObject({ state: 'IN_PROGRESS', owner: 'A' });
      expect(await again.claim(done, claimOpts('B'))).toMatchObject({
        claimed: false,
        existing: { state: 'COMPLETED', stored: stored('d') },
      });
      expect(await again.head(s)).toEqual(head(s, 1, 'd'));
    });
  });
}
