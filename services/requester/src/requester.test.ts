import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { RequestClaims, newJti } from '@countersign/contracts';
import { toJwks, type Signer } from '@countersign/signing';
import { createVerifier, staticKeys } from '@countersign/verifier';
import { createSqliteQueue } from '@countersign/transport';
import type { Queue } from '@countersign/transport';
import { createRequester, SEND_BATCH_SIZE } from './requester.ts';
import { fakeQueue } from './testing/fake-queue.ts';
import { SAMPLE_TXN as txn, newLocalSigner as localSigner } from './testing/fixtures.ts';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const clock = { now: () => T0 };

/** Wraps a signer to count calls and track how many signatures are in flight. */
function countingSigner(inner: Signer, delayMs = 0) {
  const stats = { calls: 0, inFlight: 0, maxInFlight: 0 };
  const signer: Signer = {
    alg: inner.alg,
    kid: inner.kid,
    publicJwk: inner.publicJwk,
    async sign(input) {
      stats.calls++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        return await inner.sign(input);
      } finally {
        stats.inFlight--;
      }
    },
  };
  return { signer, stats };
}

function make(
  signer: Signer,
  queue: Queue,
  extra: { signConcurrency?: number; batchSigning?: { maxBatchSize?: number } } = {},
) {
  return createRequester({
    signer,
    queue,
    issuer: 'bot-1',
    audience: 'gw-1',
    lifetimeSec: 60,
    clock,
    ...extra,
  });
}

async function verify(token: string, signer: Signer) {
  const key = await importJWK({ ...signer.publicJwk }, signer.alg);
  return jwtVerify(token, key, {
    currentDate: new Date(T0),
    issuer: 'bot-1',
    audience: 'gw-1',
    typ: 'txn+jwt',
    algorithms: ['ES256'],
  });
}

describe('createRequester.submit', () => {
  it('signs claims that jose verifies and enqueues with group = account, dedup = jti', async () => {
    const signer = await localSigner();
    const queue = fakeQueue();
    const out = await make(signer, queue).submit(txn, { account: 'acct-7' });
    expect(out.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const { payload, protectedHeader } = await verify(out.token, signer);
    expect(protectedHeader).toEqual({ alg: 'ES256', kid: signer.kid, typ: 'txn+jwt' });
    const iat = Math.floor(T0 / 1000);
    expect(payload).toEqual({
      iss: 'bot-1',
      sub: 'acct-7',
      aud: 'gw-1',
      iat,
      nbf: iat,
      exp: iat + 60,
      jti: out.jti,
      txn,
    });
    expect(queue.sent).toEqual([{ body: out.token, groupId: 'acct-7', dedupId: out.jti }]);
    expect(RequestClaims.safeParse(payload).success).toBe(true);
  });

  it('gives every request a fresh jti', async () => {
    const r = make(await localSigner(), fakeQueue());
    const jtis = new Set<string>();
    for (let i = 0; i < 50; i++) jtis.add((await r.submit(txn, { account: 'a' })).jti);
    expect(jtis.size).toBe(50);
  });

  it('rejects an invalid request with every bad path and never signs it', async () => {
    const { signer, stats } = countingSigner(await localSigner());
    const queue = fakeQueue();
    const err = await make(signer, queue)
      .submit({ ...txn, quantity: '-1', side: 'hold', extra: 1 }, { account: 'bad account!' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REQUEST_INVALID' });
    const paths = (err as { issues: { path: string }[] }).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['account', 'txn', 'txn.quantity', 'txn.side']);
    expect(stats.calls).toBe(0);
    expect(queue.sent).toHaveLength(0);
  });

  it('refuses a lifetime above 300 s and bad ids at construction', async () => {
    const signer = await localSigner();
    const base = { signer, queue: fakeQueue(), issuer: 'i', audience: 'a', clock };
    expect(() => createRequester({ ...base, lifetimeSec: 301 })).toThrow(/lifetimeSec/);
    expect(() => createRequester({ ...base, lifetimeSec: 0 })).toThrow(/lifetimeSec/);
    expect(() => createRequester({ ...base, lifetimeSec: 300, issuer: 'a b' })).toThrow(/issuer/);
    expect(createRequester({ ...base, lifetimeSec: 300 })).toBeDefined();
  });

  it('propagates a queue failure (no jti reported as enqueued)', async () => {
    const queue = fakeQueue();
    queue.failAll = true;
    await expect(make(await localSigner(), queue).submit(txn, { account: 'a' })).rejects.toThrow(
      /queue down/,
    );
  });
});

describe('createRequester.submitMany', () => {
  it('returns one result per entry in order, invalid entries unsigned, batches of 10', async () => {
    const { signer, stats } = countingSigner(await localSigner());
    const queue = fakeQueue();
    const items = Array.from({ length: 25 }, (_, i) => ({
      account: `acct-${i % 3}`,
      txn: i === 4 ? { ...txn, symbol: 'btc' } : i === 17 ? { ...txn, timeInForce: 'DAY' } : txn,
    }));
    const progress: [number, number][] = [];
    const results = await make(signer, queue).submitMany(items, {
      onProgress: (d, t) => progress.push([d, t]),
    });
    expect(results.map((r) => r.index)).toEqual(items.map((_, i) => i));
    expect(results[4]).toMatchObject({
      ok: false,
      code: 'REQUEST_INVALID',
      issues: [{ path: 'txn.symbol' }],
    });
    expect(results[17]).toMatchObject({ ok: false, issues: [{ path: 'txn.timeInForce' }] });
    expect(results.filter((r) => r.ok)).toHaveLength(23);
    expect(stats.calls).toBe(23);
    expect(queue.batchSizes.every((n) => n <= SEND_BATCH_SIZE)).toBe(true);
    expect(queue.batchSizes.reduce((a, b) => a + b, 0)).toBe(23);
    expect(progress).toEqual([
      [10, 25],
      [20, 25],
      [25, 25],
    ]);
    // Sent in input order, so each account's FIFO group sees its requests in order.
    const okJtis = results.flatMap((r) => (r.ok ? [r.jti] : []));
    expect(queue.sent.map((m) => m.dedupId)).toEqual(okJtis);
    for (const r of results) {
      if (r.ok) {
        const { payload } = await verify(r.token, signer);
        expect(payload.sub).toBe(items[r.index]!.account);
        expect(payload.jti).toBe(r.jti);
      }
    }
  });

  it('reports per-entry queue failures without dropping the others', async () => {
    const queue = fakeQueue();
    queue.failEntry = (m) => m.groupId === 'unlucky';
    const items = Array.from({ length: 12 }, (_, i) => ({
      account: i % 4 === 0 ? 'unlucky' : 'lucky',
      txn,
    }));
    const results = await make(await localSigner(), queue).submitMany(items);
    expect(results.filter((r) => !r.ok).map((r) => r.index)).toEqual([0, 4, 8]);
    expect(results[0]).toMatchObject({ ok: false, code: 'QUEUE_FAILED' });
    expect(queue.sent).toHaveLength(9);
  });

  it('reports a whole batch as failed when the queue call throws, and goes on', async () => {
    const queue = fakeQueue();
    let calls = 0;
    const inner = queue.sendBatch.bind(queue);
    queue.sendBatch = (ms, signal) => {
      calls++;
      return calls === 1 ? Promise.reject(new Error('boom')) : inner(ms, signal);
    };
    const items = Array.from({ length: 15 }, () => ({ account: 'a', txn }));
    const results = await make(await localSigner(), queue).submitMany(items);
    expect(results.slice(0, 10).every((r) => !r.ok && r.code === 'QUEUE_FAILED')).toBe(true);
    expect(results.slice(10).every((r) => r.ok)).toBe(true);
  });

  it('bounds signatures in flight by signConcurrency', async () => {
    const { signer, stats } = countingSigner(await localSigner(), 5);
    const items = Array.from({ length: 40 }, () => ({ account: 'a', txn }));
    const results = await make(signer, fakeQueue(), { signConcurrency: 3 }).submitMany(items);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(stats.maxInFlight).toBe(3);
  });

  it('reports a signing failure per entry', async () => {
    const inner = await localSigner();
    let n = 0;
    const signer: Signer = {
      ...inner,
      sign: (input) => (++n === 2 ? Promise.reject(new Error('kms said no')) : inner.sign(input)),
    };
    const results = await make(signer, fakeQueue(), { signConcurrency: 1 }).submitMany([
      { account: 'a', txn },
      { account: 'a', txn },
      { account: 'a', txn },
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    expect(results[1]).toMatchObject({ code: 'SIGNING_FAILED' });
  });
});

describe('with the embedded SQLite queue', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('enqueues tokens the receiver gets back with group = account', async () => {
    dir = mkdtempSync(join(tmpdir(), 'requester-'));
    const queue = createSqliteQueue({
      path: join(dir, 'queue.sqlite'),
      visibilityTimeoutSec: 30,
      maxReceives: 3,
    });
    const signer = await localSigner();
    const r = make(signer, queue);
    const one = await r.submit(txn, { account: 'acct-1' });
    const many = await r.submitMany([
      { account: 'acct-2', txn },
      { account: 'acct-3', txn },
    ]);
    const got = await queue.receive({ max: 10, waitMs: 0 });
    expect(got.map((m) => m.body).sort()).toEqual(
      [one.token, ...many.map((m) => (m.ok ? m.token : ''))].sort(),
    );
    const first = got.find((m) => m.messageId === one.messageId)!;
    expect(first.groupId).toBe('acct-1');
    expect(decodeProtectedHeader(first.body).typ).toBe('txn+jwt');
    await queue.close();
  });
});

describe('signing apart from sending (what a retry needs)', () => {
  it('sign keeps the identity, send enqueues exactly that token (group = account, dedup = jti)', async () => {
    const signer = await localSigner();
    const queue = fakeQueue();
    const r = make(signer, queue);
    const signed = await r.sign(txn, { account: 'acct-3' });
    expect(queue.sent).toHaveLength(0);
    const { payload } = await verify(signed.token, signer);
    expect(payload).toMatchObject({ jti: signed.jti, sub: 'acct-3' });
    // The jti's time prefix comes from the injected clock, not the system clock.
    expect(signed.jti.slice(0, 8)).toBe(newJti(T0).slice(0, 8));
    const first = await r.send(signed);
    const again = await r.send(signed);
    expect(first).toMatchObject({ jti: signed.jti, token: signed.token });
    expect(again.jti).toBe(signed.jti);
    const message = { body: signed.token, groupId: 'acct-3', dedupId: signed.jti };
    expect(queue.sent).toEqual([message, message]);
  });

  it('signMany signs in order without sending; invalid items are reported, never signed', async () => {
    const { signer, stats } = countingSigner(await localSigner());
    const queue = fakeQueue();
    const out = await make(signer, queue).signMany([
      { account: 'a', txn },
      { account: 'a', txn: { ...txn, side: 'hold' } },
      { account: 'b', txn },
    ]);
    expect(out.map((o) => [o.index, o.ok])).toEqual([
      [0, true],
      [1, false],
      [2, true],
    ]);
    expect(out[1]).toMatchObject({ code: 'REQUEST_INVALID', issues: [{ path: 'txn.side' }] });
    expect(stats.calls).toBe(2);
    expect(queue.sent).toHaveLength(0);
  });

  it('submitMany sends resend items as they are, in input order with new ones, signing only the new', async () => {
    const { signer, stats } = countingSigner(await localSigner());
    const queue = fakeQueue();
    const r = make(signer, queue);
    const kept = await r.sign(txn, { account: 'acct-1' });
    stats.calls = 0;
    const results = await r.submitMany([
      { account: 'acct-1', txn },
      { signed: kept },
      { account: 'acct-1', txn },
    ]);
    expect(stats.calls).toBe(2);
    expect(results[1]).toMatchObject({ ok: true, index: 1, jti: kept.jti, token: kept.token });
    expect(queue.sent.map((m) => m.dedupId)).toEqual(results.map((x) => (x.ok ? x.jti : '')));
    expect(queue.sent[1]).toEqual({ body: kept.token, groupId: 'acct-1', dedupId: kept.jti });
  });
});

describe('createRequester with batchSigning (issue #20)', () => {
  const verifierFor = (signer: Signer) =>
    createVerifier({
      keys: staticKeys(toJwks([signer]), { issuer: 'bot-1' }),
      issuers: ['bot-1'],
      audience: 'gw-1',
      typ: 'txn+jwt',
      clock,
    });

  it('signs one submitMany call under one signature; every queued item verifies', async () => {
    const inner = await localSigner();
    const { signer, stats } = countingSigner(inner, 5);
    const queue = fakeQueue();
    const items = Array.from({ length: 40 }, (_, i) => ({ account: `a${i % 3}`, txn }));
    const results = await make(signer, queue, { batchSigning: {} }).submitMany(items);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(stats.calls).toBe(1);
    const v = verifierFor(inner);
    for (const [i, m] of queue.sent.entries()) {
      const out = await v.verify(m.body);
      expect(out.claims).toMatchObject({ sub: `a${i % 3}`, jti: m.dedupId });
      expect(out.batch?.head.size).toBe(40);
    }
  });

  it('signs a lone request as a plain token any JWT library verifies', async () => {
    const { signer, stats } = countingSigner(await localSigner(), 5);
    const queue = fakeQueue();
    const sent = await make(signer, queue, { batchSigning: {} }).submit(txn, { account: 'a' });
    expect(stats.calls).toBe(1);
    expect((await verify(sent.token, signer)).payload.jti).toBe(sent.jti);
  });

  it('batches concurrent single submits (the HTTP path) behind the signature in flight', async () => {
    const inner = await localSigner();
    const { signer, stats } = countingSigner(inner, 20);
    const requester = make(signer, fakeQueue(), { batchSigning: {} });
    const first = requester.submit(txn, { account: 'a' });
    await new Promise((r) => setTimeout(r, 5)); // the first signature is in flight
    const rest = Array.from({ length: 10 }, () => requester.submit(txn, { account: 'b' }));
    const tokens = [await first, ...(await Promise.all(rest))].map((s) => s.token);
    expect(stats.calls).toBe(2);
    const v = verifierFor(inner);
    expect((await v.verify(tokens[0]!)).batch).toBeUndefined();
    for (const t of tokens.slice(1)) expect((await v.verify(t)).batch?.head.size).toBe(10);
  });
});

describe('remembering each order before it can be sent', () => {
  function remembering(fail = false) {
    const calls: { jti: string; account: string; iss: string }[][] = [];
    const queue = fakeQueue();
    const remember = (orders: readonly { jti: string; account: string; iss: string }[]) => {
      // The queue must not have seen these orders yet.
      for (const o of orders) expect(queue.sent.some((m) => m.dedupId === o.jti)).toBe(false);
      calls.push([...orders]);
      return fail ? Promise.reject(new Error('disk full')) : Promise.resolve();
    };
    const requester = async () =>
      createRequester({
        signer: await localSigner(),
        queue,
        issuer: 'bot-1',
        audience: 'gw-1',
        lifetimeSec: 60,
        clock,
        remember,
      });
    return { calls, queue, requester };
  }

  it('submit and sign remember (iss, jti, account) before the token is sent or returned', async () => {
    const { calls, requester } = remembering();
    const r = await requester();
    const out = await r.submit(txn, { account: 'acct-1' });
    const signed = await r.sign(txn, { account: 'acct-2' });
    expect(calls).toEqual([
      [{ iss: 'bot-1', jti: out.jti, account: 'acct-1' }],
      [{ iss: 'bot-1', jti: signed.jti, account: 'acct-2' }],
    ]);
    // Sending a kept request again does not remember it again (it was when it was signed).
    await r.send(signed);
    expect(calls).toHaveLength(2);
  });

  it('submitMany remembers the valid items in one write per 500, invalid ones not at all', async () => {
    const { calls, requester } = remembering();
    const r = await requester();
    const items = Array.from({ length: 1001 }, (_, i) => ({
      account: i === 7 ? 'bad account' : `acct-${i % 3}`,
      txn,
    }));
    const results = await r.submitMany(items);
    expect(results.filter((x) => !x.ok).map((x) => x.index)).toEqual([7]);
    expect(calls.map((c) => c.length)).toEqual([500, 500]);
    expect(new Set(calls.flat().map((o) => o.jti))).toEqual(
      new Set(results.flatMap((x) => (x.ok ? [x.jti] : []))),
    );
  });

  it('a failed remember fails the request with STORE_FAILED and sends nothing', async () => {
    const { queue, requester } = remembering(true);
    const r = await requester();
    await expect(r.submit(txn, { account: 'acct-1' })).rejects.toMatchObject({
      code: 'STORE_FAILED',
    });
    const many = await r.submitMany([{ account: 'acct-1', txn }]);
    expect(many).toEqual([expect.objectContaining({ ok: false, code: 'STORE_FAILED' })]);
    expect(queue.sent).toEqual([]);
  });
});
