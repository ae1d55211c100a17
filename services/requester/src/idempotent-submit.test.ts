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

/** The memory store signs first (it has `peek`); without it, keys are reserved first (DynamoDB). */
type Path = 'sign first' | 'reserve first';

async function setupFor(signerWrap: (s: Signer) => Signer = (s) => s, path: Path = 'sign first') {
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
  const memory = createMemoryIdempotencyStore({ clock });
  let writes = 0;
  const counted =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    (...a: A) => {
      writes++;
      return f(...a);
    };
  const store: IdempotencyStore = {
    begin: counted((...a: Parameters<IdempotencyStore['begin']>) => memory.begin(...a)),
    fix: counted((...a: Parameters<IdempotencyStore['fix']>) => memory.fix(...a)),
    complete: counted((...a: Parameters<IdempotencyStore['complete']>) => memory.complete(...a)),
    release: counted((...a: Parameters<IdempotencyStore['release']>) => memory.release(...a)),
    ...(path === 'sign first'
      ? { peek: (scope: string, key: string) => memory.peek!(scope, key) }
      : {}),
  };
  return { clock, queue, requester, store, signatures: () => signatures, writes: () => writes };
}

const setup = (wrap?: (s: Signer) => Signer) => setupFor(wrap);

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

describe.each<Path>(['sign first', 'reserve first'])('submitOnce (one key, %s)', (path) => {
  const setup = (wrap?: (s: Signer) => Signer) => setupFor(wrap, path);

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
    // Reserved first: the late signer finds its reservation taken over. Signed first: it
    // finds the key answered and replays that answer. Either way its own token stays unsent.
    if (quick.state !== 'answered') throw new Error('unreachable');
    expect(await slow).toEqual(
      path === 'reserve first'
        ? { state: 'taken_over' }
        : { state: 'replay', response: quick.response },
    );
    expect(t.queue.sent).toHaveLength(1);
    expect(t.signatures()).toBe(2);
  });

  it('a new key costs one store write before the send (sign first) or two (reserve first)', async () => {
    const t = await setup();
    const sent: number[] = [];
    const send = t.queue.send.bind(t.queue);
    t.queue.send = (m) => {
      sent.push(t.writes());
      return send(m);
    };
    expect(await submitOnce(t.store, id, single(t.requester))).toMatchObject({
      state: 'answered',
    });
    expect(sent).toEqual([path === 'sign first' ? 1 : 2]);
    expect(t.writes()).toBe(sent[0]! + 1); // and the answer
  });

  it('two first attempts with one key at once: one is sent, the other answers in_progress', async () => {
    const t = await setup();
    const [a, b] = await Promise.all([
      submitOnce(t.store, id, single(t.requester)),
      submitOnce(t.store, id, single(t.requester)),
    ]);
    expect([a.state, b.state].sort()).toEqual(['answered', 'in_progress']);
    expect(t.queue.sent).toHaveLength(1);
    // Signed first, both signed before either reserved; the loser's token never left.
    expect(t.signatures()).toBe(path === 'sign first' ? 2 : 1);
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

describe.each<Path>(['sign first', 'reserve first'])(
  'submitOnce (a batch under one key, %s)',
  (path) => {
    const setup = (wrap?: (s: Signer) => Signer) => setupFor(wrap, path);

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

      const down = await setup((s) => ({
        ...s,
        sign: () => Promise.reject(new Error('kms down')),
      }));
      const none = await submitOnce(down.store, id, batch(down.requester));
      expect(none).toMatchObject({ state: 'answered' });
      // Nothing was signed, so nothing was kept: the key is free again.
      expect((await down.store.begin(id.scope, id.key, id.bodySha256)).state).toBe('new');
    });
  },
);

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
