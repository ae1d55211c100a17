// The IdempotencyStore contract, written once and run against every adapter: memory and SQLite
// in the unit project (idempotency-store.test.ts), DynamoDB on moto in the integration project
// (test/requester-dynamo-idempotency.test.ts). Scopes are unique per test, so an adapter may keep
// one file or table for the whole suite.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newJti } from '@countersign/contracts';
import type { Clock } from '@countersign/contracts';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_TTL_MS,
  type BeginResult,
  type FixedRequest,
  type IdempotencyStore,
} from '../idempotency-store.ts';
import { largestBatch } from './largest-batch.ts';

export interface IdempotencyStoreHarness {
  /** A store on the harness's data, reading time from `clock`. */
  open(clock: Clock): IdempotencyStore;
  /** Stores opened by one harness see each other's records (a file, a table; not memory). */
  readonly shared: boolean;
  /**
   * false when racing conditional writes are not serialized by the backend (moto's threaded
   * server; real DynamoDB is): the race cases then make the same calls one after another.
   */
  readonly serializesConcurrentWrites?: boolean;
  /** Overwrites a record's stored signed requests with raw text (a tampered data file/table). */
  overwriteFixed?(scope: string, key: string, raw: string): Promise<void>;
  /** What a STORE_FAILED message must name (the file or the table). */
  readonly where?: string;
}

/** A token-shaped string whose unverified payload names `jti` and `sub` (no signature needed). */
export function tokenFor(jti: string, sub: string): string {
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'txn+jwt' })}.${part({ jti, sub })}.c2lnbmF0dXJl`;
}

export function signedRequest(account = 'acct-1'): FixedRequest & { ok: true } {
  const jti = newJti();
  return { ok: true, jti, account, token: tokenFor(jti, account) };
}

export function ownerOf(b: BeginResult): string {
  if (b.state !== 'new' && b.state !== 'resume') {
    throw new Error(`expected a reservation: ${b.state}`);
  }
  return b.owner;
}

const response = { status: 202, body: { jti: 'j', messageId: 'm' } };
/** Any owner id (owners are the adapter's own). */
const anOwner: unknown = expect.any(String);

export function describeIdempotencyStoreContract(
  name: string,
  harness: () => IdempotencyStoreHarness,
): void {
  describe(`${name} idempotency store (contract)`, () => {
    // What the adapter can do decides which cases exist: a case that does not apply is not run
    // as a skip (flags only; nothing is opened here).
    const caps = harness();
    const ifShared = caps.shared ? it : () => undefined;
    const ifTamperable = caps.overwriteFixed ? it : () => undefined;
    /** One store with its own clock; the scope is unique to the test. */
    function setup(start = 1_000_000) {
      const h = harness();
      const clock = { t: start, now: () => clock.t };
      return { h, clock, s: h.open(clock), scope: `s-${randomUUID()}` };
    }

    it('reserves, replays the same body, and conflicts on another body', async () => {
      const { s, clock, scope } = setup();
      const owner = ownerOf(await s.begin(scope, 'k1', 'h1'));
      expect(await s.begin(scope, 'k1', 'h1')).toEqual({ state: 'in_progress' });
      expect(await s.begin(scope, 'k1', 'h2')).toEqual({ state: 'conflict' });
      await s.complete(scope, 'k1', owner, response);
      clock.t += IDEMPOTENCY_TTL_MS - 1;
      expect(await s.begin(scope, 'k1', 'h1')).toEqual({ state: 'replay', response });
      expect(await s.begin(scope, 'k1', 'h2')).toEqual({ state: 'conflict' });
      await s.close?.();
    });

    it('scopes keys per API key and forgets them after 24 h', async () => {
      const { s, clock, scope } = setup(5_000);
      await s.complete(scope, 'k1', ownerOf(await s.begin(scope, 'k1', 'h1')), response);
      expect((await s.begin(`${scope}-b`, 'k1', 'h2')).state).toBe('new');
      // A scope and a key that concatenate alike are still two keys.
      expect((await s.begin(`${scope}k`, '1', 'h2')).state).toBe('new');
      clock.t += IDEMPOTENCY_TTL_MS;
      expect((await s.begin(scope, 'k1', 'h2')).state).toBe('new');
      await s.close?.();
    });

    it('a reservation with nothing signed: release drops it; abandoned, the next begin reserves it afresh', async () => {
      const { s, clock, scope } = setup(0);
      await s.release(scope, 'k', ownerOf(await s.begin(scope, 'k', 'h')));
      const first = ownerOf(await s.begin(scope, 'k', 'h'));
      clock.t += IDEMPOTENCY_LEASE_MS - 1;
      expect(await s.begin(scope, 'k', 'h')).toEqual({ state: 'in_progress' });
      clock.t += 1;
      // Nothing left the requester: even another body may take the key now.
      const second = await s.begin(scope, 'k', 'other');
      expect(second).toEqual({ state: 'new', owner: anOwner });
      expect(ownerOf(second)).not.toBe(first);
      await s.close?.();
    });

    it('a record with signed requests is resumed after the lease with the same tokens, never reserved afresh', async () => {
      const { s, clock, scope } = setup(0);
      const first = ownerOf(await s.begin(scope, 'k', 'h'));
      const fixed: FixedRequest[] = [
        signedRequest(),
        { ok: false, code: 'SIGNING_FAILED', message: 'no' },
      ];
      expect(await s.fix(scope, 'k', first, fixed)).toBe(true);
      clock.t += IDEMPOTENCY_LEASE_MS - 1;
      expect(await s.begin(scope, 'k', 'h')).toEqual({ state: 'in_progress' });
      clock.t += 1;
      // Another body under the key that owns these tokens is a conflict, not a takeover.
      expect(await s.begin(scope, 'k', 'other')).toEqual({ state: 'conflict' });
      const resumed = await s.begin(scope, 'k', 'h');
      expect(resumed).toEqual({ state: 'resume', owner: anOwner, fixed });
      const second = ownerOf(resumed);
      expect(second).not.toBe(first);
      // The first owner lost the record: it may no longer fix, complete or release it.
      expect(await s.fix(scope, 'k', first, [signedRequest()])).toBe(false);
      await s.complete(scope, 'k', first, { status: 500, body: 'stale' });
      await s.release(scope, 'k', first);
      expect(await s.begin(scope, 'k', 'h')).toEqual({ state: 'in_progress' });
      await s.complete(scope, 'k', second, response);
      expect(await s.begin(scope, 'k', 'h')).toEqual({ state: 'replay', response });
      await s.close?.();
    });

    it('begin with signed requests reserves them fixed in one write; anything else leaves them unused', async () => {
      const { s, clock, scope } = setup(0);
      expect(await s.peek?.(scope, 'k')).not.toBe(true); // false, or no peek at all
      const fixed = [signedRequest()];
      const owner = ownerOf(await s.begin(scope, 'k', 'h', fixed));
      if (s.peek) expect(await s.peek(scope, 'k')).toBe(true);
      // Someone else's tokens for the same key: in progress, and never fixed over the first.
      expect(await s.begin(scope, 'k', 'h', [signedRequest()])).toEqual({ state: 'in_progress' });
      expect(await s.fix(scope, 'k', owner, [signedRequest()])).toBe(false); // fixed once
      clock.t += IDEMPOTENCY_LEASE_MS; // the owner died before its send: resumed, same tokens
      expect(await s.begin(scope, 'k', 'h', [signedRequest()])).toEqual({
        state: 'resume',
        owner: anOwner,
        fixed,
      });
      await s.close?.();
    });

    it('fix refuses an owner whose reservation was taken over (a slow signer sends nothing)', async () => {
      const { s, clock, scope } = setup(0);
      const slow = ownerOf(await s.begin(scope, 'k', 'h'));
      clock.t += IDEMPOTENCY_LEASE_MS;
      const quick = ownerOf(await s.begin(scope, 'k', 'h'));
      expect(await s.fix(scope, 'k', quick, [signedRequest()])).toBe(true);
      expect(await s.fix(scope, 'k', slow, [signedRequest()])).toBe(false);
      // A record's requests are fixed once, even by its owner.
      expect(await s.fix(scope, 'k', quick, [signedRequest()])).toBe(false);
      await s.close?.();
    });

    it('release of a record with signed requests ends its lease: a retry resumes at once', async () => {
      const { s, scope } = setup(0);
      const owner = ownerOf(await s.begin(scope, 'k', 'h'));
      const fixed = [signedRequest()];
      await s.fix(scope, 'k', owner, fixed);
      await s.release(scope, 'k', owner);
      expect(await s.begin(scope, 'k', 'h')).toEqual({
        state: 'resume',
        owner: anOwner,
        fixed,
      });
      await s.close?.();
    });

    it('release never drops a completed record; complete keeps the answer, not the tokens', async () => {
      const { s, scope } = setup(0);
      const owner = ownerOf(await s.begin(scope, 'k', 'h'));
      await s.fix(scope, 'k', owner, [signedRequest()]);
      await s.complete(scope, 'k', owner, response);
      await s.release(scope, 'k', owner);
      expect(await s.begin(scope, 'k', 'h')).toEqual({ state: 'replay', response });
      await s.close?.();
    });

    it('keeps the largest batch the HTTP API makes, token for token', async () => {
      const { s, clock, scope } = setup(0);
      const fixed = await largestBatch();
      expect(await s.fix(scope, 'k', ownerOf(await s.begin(scope, 'k', 'h')), fixed)).toBe(true);
      clock.t += IDEMPOTENCY_LEASE_MS;
      expect(await s.begin(scope, 'k', 'h')).toEqual({
        state: 'resume',
        owner: anOwner,
        fixed,
      });
      await s.close?.();
    });

    ifShared(
      'another store on the same data: resumes what a dead owner fixed and replays answers',
      async () => {
        const { h, s: dead, clock, scope } = setup(42);
        await dead.complete(scope, 'done', ownerOf(await dead.begin(scope, 'done', 'h')), {
          status: 207,
          body: { items: [1] },
        });
        const fixed = [signedRequest()];
        const deadOwner = ownerOf(await dead.begin(scope, 'half', 'h'));
        await dead.fix(scope, 'half', deadOwner, fixed); // sent, then the process died
        const other = h.open(clock);
        expect(await other.begin(scope, 'half', 'h')).toEqual({ state: 'in_progress' });
        clock.t += IDEMPOTENCY_LEASE_MS;
        expect(await other.begin(scope, 'done', 'h')).toEqual({
          state: 'replay',
          response: { status: 207, body: { items: [1] } },
        });
        const resumed = await other.begin(scope, 'half', 'h');
        expect(resumed).toMatchObject({ state: 'resume', fixed });
        // The dead owner's store still runs (a slow process, not a dead one): it is fenced off.
        await dead.complete(scope, 'half', deadOwner, { status: 500, body: 'late' });
        await other.complete(scope, 'half', ownerOf(resumed), response);
        expect(await dead.begin(scope, 'half', 'h')).toEqual({ state: 'replay', response });
        await dead.close?.();
        await other.close?.();
      },
    );

    ifShared(
      'two stores racing for one key: one reserves; after the lease, one resumes',
      async () => {
        const { h, s: a, clock, scope } = setup(0);
        const b = h.open(clock);
        const race = async <T>(calls: (() => Promise<T>)[]): Promise<T[]> => {
          if (h.serializesConcurrentWrites !== false) return Promise.all(calls.map((c) => c()));
          const out: T[] = [];
          for (const c of calls) out.push(await c());
          return out;
        };
        const begun = await race([a, b, a, b].map((st) => () => st.begin(scope, 'k', 'h')));
        expect(begun.map((r) => r.state).sort()).toEqual([
          'in_progress',
          'in_progress',
          'in_progress',
          'new',
        ]);
        const owner = ownerOf(begun.find((r) => r.state === 'new')!);
        const fixed = [signedRequest()];
        // Any store may act for an owner (the next call of a request may reach another instance).
        expect(await a.fix(scope, 'k', owner, fixed)).toBe(true);
        clock.t += IDEMPOTENCY_LEASE_MS;
        const taken = await race([b, a, b].map((st) => () => st.begin(scope, 'k', 'h')));
        expect(taken.map((r) => r.state).sort()).toEqual(['in_progress', 'in_progress', 'resume']);
        expect(taken.find((r) => r.state === 'resume')).toMatchObject({ fixed });
        await a.close?.();
        await b.close?.();
      },
    );

    ifTamperable(
      'a corrupt or mismatched stored request is STORE_FAILED naming the store, never sent',
      async () => {
        const { h, s, clock, scope } = setup(0);
        const overwrite = (sc: string, k: string, raw: string) => h.overwriteFixed!(sc, k, raw);
        const cases = {
          garbage: '{not json',
          'wrong-shape': JSON.stringify([{ ok: true, jti: 'x' }]),
          // A token whose jti is not the recorded one would be another order under this key.
          swapped: JSON.stringify([{ ...signedRequest(), token: signedRequest().token }]),
        };
        for (const [key, raw] of Object.entries(cases)) {
          await s.fix(scope, key, ownerOf(await s.begin(scope, key, 'h')), [signedRequest()]);
          await overwrite(scope, key, raw);
        }
        clock.t += IDEMPOTENCY_LEASE_MS;
        for (const key of Object.keys(cases)) {
          const err = await s.begin(scope, key, 'h').catch((e: unknown) => e);
          expect(err).toMatchObject({ code: 'STORE_FAILED' });
          expect((err as Error).message).toContain(h.where ?? '');
        }
        await s.close?.();
      },
    );
  });
}
