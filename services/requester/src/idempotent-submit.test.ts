// At most one jti per idempotency key, whatever point a process dies at. A "crash" here is an
// injected hook that never returns (the process stops there: nothing after it runs, no cleanup);
// the "restarted" process is a second call on the same store after the lease ran out.
import { describe, expect, it } from 'vitest';
import type { Signer } from '@countersign/signing';
import type { OutgoingMessage } from '@countersign/transport';
import { fakeQueue, type FakeQueue } from './testing/fake-queue.ts';
import {
  IDEMPOTENCY_LEASE_MS,
  createMemoryIdempotencyStore,
  type IdempotencyStore,
} from './idempotency-store.ts';
import {
  batchWork,
  singleWork,
  submitEachOnce,
  submitOnce,
  type OnceItem,
} from './idempotent-submit.ts';
import { createRequester, type Requester } from './requester.ts';
import { SAMPLE_TXN as txn, newLocalSigner } from './testing/fixtures.ts';

/** An injected crash: `die()` never returns (nothing after it runs); `reached` says it happened. */
function crashPoint() {
  let hit!: () => void;
  const reached = new Promise<void>((r) => (hit = r));
  return {
    reached,
    die: (): Promise<never> => {
      hit();
      return new Promise<never>(() => undefined);
    },
  };
}

async function setup(signerWrap: (s: Signer) => Signer = (s) => s) {
  let now = Date.UTC(2026, 3, 1);
  const clock = { now: () => now, advance: (ms: number) => void (now += ms) };
  const inner = await newLocalSigner();
  let signatures = 0;
  const signer = signerWrap({
    ...inner,
    sign: (input) => {
      signatures++;
      return inner.sign(input);
    },
  });
  const queue = fakeQueue();
  const requester = createRequester({
    signer,
    queue,
    issuer: 'bot-1',
    audience: 'gw-1',
    lifetimeSec: 60,
    clock,
  });
  const store = createMemoryIdempotencyStore({ clock });
  return { clock, queue, requester, store, signatures: () => signatures };
}

/** The POST /v1/transactions work. */
const single = (requester: Requester) => singleWork(requester, { account: 'acct-1', txn });
const id = { scope: 'bot', key: 'order-1', bodySha256: 'h' };

/** Makes the queue stop for good at its next send, before or after storing the message. */
function crashQueueAt(queue: FakeQueue, when: 'before-store' | 'after-store') {
  const send = queue.send.bind(queue);
  const crash = crashPoint();
  queue.send = async (m: OutgoingMessage) => {
    if (when === 'after-store') await send(m);
    return crash.die();
  };
  return {
    reached: crash.reached,
    restore: () => void (queue.send = send),
  };
}

const jtiOf = (body: unknown) => (body as { jti: string }).jti;

describe('submitOnce (one key)', () => {
  it('killed after the send, before the answer was recorded: the retry sends the same token', async () => {
    const t = await setup();
    const crash = crashQueueAt(t.queue, 'after-store');
    void submitOnce(t.store, id, single(t.requester)); // dies inside the send
    await crash.reached;
    expect(t.queue.sent).toHaveLength(1);
    crash.restore();
    expect(await submitOnce(t.store, id, single(t.requester))).toEqual({ state: 'in_progress' });
    t.clock.advance(IDEMPOTENCY_LEASE_MS);
    const retry = await submitOnce(t.store, id, single(t.requester));
    expect(retry).toMatchObject({ state: 'answered', resumed: true });
    if (retry.state !== 'answered') throw new Error('unreachable');
    const [first, second] = t.queue.sent;
    expect(jtiOf(retry.response.body)).toBe(first!.dedupId);
    expect(second).toEqual(first); // same bytes, same dedup id: the queue or replay guard absorbs it
    expect(t.signatures()).toBe(1);
    expect(await submitOnce(t.store, id, single(t.requester))).toEqual({
      state: 'replay',
      response: retry.response,
    });
  });

  it('killed after the jti was fixed, before anything was sent: the retry sends that jti, also once expired', async () => {
    const t = await setup();
    const crash = crashQueueAt(t.queue, 'before-store');
    void submitOnce(t.store, id, single(t.requester));
    await crash.reached;
    expect(t.queue.sent).toHaveLength(0);
    crash.restore();
    t.clock.advance(10 * 60_000); // the token (60 s) expired long ago: sent anyway, never re-signed
    const retry = await submitOnce(t.store, id, single(t.requester));
    expect(retry).toMatchObject({ state: 'answered', resumed: true });
    expect(t.signatures()).toBe(1);
    expect(t.queue.sent).toHaveLength(1);
    if (retry.state === 'answered')
      expect(jtiOf(retry.response.body)).toBe(t.queue.sent[0]!.dedupId);
  });

  it('killed while signing (nothing kept): the retry after the lease signs; the late signer sends nothing', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let stall!: () => void;
    const stalled = new Promise<void>((r) => (stall = r));
    let calls = 0;
    const t = await setup((s) => ({
      ...s,
      sign: async (input) => {
        if (++calls === 1) {
          stall();
          await gate; // the first signature stalls past the lease
        }
        return s.sign(input);
      },
    }));
    const slow = submitOnce(t.store, id, single(t.requester));
    await stalled;
    t.clock.advance(IDEMPOTENCY_LEASE_MS);
    const quick = await submitOnce(t.store, id, single(t.requester));
    expect(quick).toMatchObject({ state: 'answered', resumed: false });
    release();
    expect(await slow).toEqual({ state: 'taken_over' });
    expect(t.queue.sent).toHaveLength(1);
  });

  it('a failed send keeps the jti and ends the lease: the immediate retry sends the same token', async () => {
    const t = await setup();
    t.queue.failAll = true;
    await expect(submitOnce(t.store, id, single(t.requester))).rejects.toThrow(/queue down/);
    t.queue.failAll = false;
    const retry = await submitOnce(t.store, id, single(t.requester));
    expect(retry).toMatchObject({ state: 'answered', resumed: true });
    expect(t.signatures()).toBe(1);
  });

  it('a failed signature keeps nothing: the retry starts afresh', async () => {
    let calls = 0;
    const t = await setup((s) => ({
      ...s,
      sign: (input) => (++calls === 1 ? Promise.reject(new Error('kms down')) : s.sign(input)),
    }));
    await expect(submitOnce(t.store, id, single(t.requester))).rejects.toMatchObject({
      code: 'SIGNING_FAILED',
    });
    expect(await submitOnce(t.store, id, single(t.requester))).toMatchObject({
      state: 'answered',
      resumed: false,
    });
  });

  it('a store that fails after the send does not turn a sent request into an error', async () => {
    const t = await setup();
    const errors: unknown[] = [];
    const failing: IdempotencyStore = {
      ...t.store,
      complete: () => Promise.reject(new Error('disk full')),
    };
    const out = await submitOnce(failing, id, {
      ...single(t.requester),
      onStoreError: (e) => errors.push(e),
    });
    expect(out).toMatchObject({ state: 'answered' });
    expect(errors).toHaveLength(1);
    t.clock.advance(IDEMPOTENCY_LEASE_MS);
    const again = await submitOnce(t.store, id, single(t.requester));
    if (out.state !== 'answered' || again.state !== 'answered') throw new Error('unreachable');
    expect(jtiOf(again.response.body)).toBe(jtiOf(out.response.body));
  });
});

describe('submitOnce (a batch under one key)', () => {
  /** The POST /v1/transactions:batch work over 4 items; the answer lists each jti or failure code. */
  const batch = (requester: Requester) =>
    batchWork(
      requester,
      [0, 1, 2, 3].map((i) => ({ account: `acct-${i}`, txn })),
      (results) => ({ status: 202, body: results.map((r) => (r.ok ? r.jti : r.code)) }),
    );

  it('every jti is fixed before the first send; killed mid-send, the retry sends the same four', async () => {
    const t = await setup();
    // Two sends of two: die in the second, before it stored anything.
    (t.queue as { maxBatchSize?: number }).maxBatchSize = 2;
    const sendBatch = t.queue.sendBatch.bind(t.queue);
    const crash = crashPoint();
    let batches = 0;
    t.queue.sendBatch = (ms) => (++batches === 2 ? crash.die() : sendBatch(ms));
    void submitOnce(t.store, id, batch(t.requester));
    await crash.reached;
    expect(t.queue.sent).toHaveLength(2);
    t.queue.sendBatch = sendBatch;
    t.clock.advance(IDEMPOTENCY_LEASE_MS);
    const retry = await submitOnce(t.store, id, batch(t.requester));
    expect(retry).toMatchObject({ state: 'answered', resumed: true });
    expect(t.signatures()).toBe(4);
    const jtis = t.queue.sent.map((m) => m.dedupId);
    expect(jtis).toHaveLength(6);
    expect(new Set(jtis).size).toBe(4); // 6 sends, 4 identities
    if (retry.state === 'answered')
      expect(new Set(retry.response.body as string[])).toEqual(new Set(jtis));
  });

  it('items that failed to send are sent again by a retry with the same key; nothing signed → released', async () => {
    const t = await setup();
    t.queue.failEntry = (m) => m.groupId === 'acct-2';
    const first = await submitOnce(t.store, id, batch(t.requester));
    if (first.state !== 'answered') throw new Error('unreachable');
    expect(first.response.body).toContain('QUEUE_FAILED');
    t.queue.failEntry = () => false;
    const retry = await submitOnce(t.store, id, batch(t.requester));
    expect(retry).toMatchObject({ state: 'answered', resumed: true });
    expect(t.signatures()).toBe(4);
    expect(new Set(t.queue.sent.map((m) => m.dedupId)).size).toBe(4);
    expect(await submitOnce(t.store, id, batch(t.requester))).toMatchObject({ state: 'replay' });

    const down = await setup((s) => ({ ...s, sign: () => Promise.reject(new Error('kms down')) }));
    const none = await submitOnce(down.store, id, batch(down.requester));
    expect(none).toMatchObject({ state: 'answered' });
    // Nothing was signed, so nothing was kept: the key is free again.
    expect((await down.store.begin(id.scope, id.key, id.bodySha256)).state).toBe('new');
  });
});

describe('submitEachOnce (a key per item)', () => {
  const items = (n: number, run = 'run-1'): OnceItem[] =>
    Array.from({ length: n }, (_, i) => ({
      account: `acct-${i % 3}`,
      txn: { ...txn, clientRef: `line-${i}` },
      key: `${run} #${i}`,
      bodySha256: `h${i}`,
    }));

  it('killed in the second chunk: the rerun replays the first, resends the second, signs the rest', async () => {
    const t = await setup();
    const sendBatch = t.queue.sendBatch.bind(t.queue);
    const crash = crashPoint();
    let batches = 0;
    t.queue.sendBatch = async (ms) => {
      const out = await sendBatch(ms);
      return ++batches === 2 ? crash.die() : out;
    };
    void submitEachOnce(t.requester, t.store, items(10), { scope: 'cli', chunkSize: 4 });
    await crash.reached;
    expect(t.queue.sent).toHaveLength(8);
    t.queue.sendBatch = sendBatch;
    t.clock.advance(IDEMPOTENCY_LEASE_MS);
    const results = await submitEachOnce(t.requester, t.store, items(10), {
      scope: 'cli',
      chunkSize: 4,
    });
    expect(results.map((r) => (r.ok ? r.via : r.code))).toEqual([
      ...Array<string>(4).fill('replayed'),
      ...Array<string>(4).fill('resumed'),
      ...Array<string>(2).fill('signed'),
    ]);
    expect(t.signatures()).toBe(10);
    const jtis = results.map((r) => (r.ok ? r.jti : ''));
    expect(new Set(t.queue.sent.map((m) => m.dedupId))).toEqual(new Set(jtis));
    // Items 4..7 went twice with identical bytes; the queue's dedup (jti) absorbs the copy.
    expect(t.queue.sent.slice(8, 12)).toEqual(t.queue.sent.slice(4, 8));
  });

  it('the same key for another item is a conflict, reported on that item only', async () => {
    const t = await setup();
    await submitEachOnce(t.requester, t.store, items(3), { scope: 'cli' });
    const changed = items(3).map((it, i) => (i === 1 ? { ...it, bodySha256: 'other' } : it));
    const results = await submitEachOnce(t.requester, t.store, changed, { scope: 'cli' });
    expect(results.map((r) => (r.ok ? r.via : r.code))).toEqual([
      'replayed',
      'IDEMPOTENCY_CONFLICT',
      'replayed',
    ]);
    expect(t.queue.sent).toHaveLength(3);
  });
});
