// Submitting at most once per idempotency key, across crashes: reserve the key, sign, fix the
// signed request(s) in the record, send, record the answer. A retry that finds the record
// abandoned after the owner's lease resumes it by sending the same tokens again (same jti, same
// dedup id: the queue's dedup or the gateway's replay guard absorbs the copy), also when they
// have expired meanwhile (the gateway then answers with a signed REJECTED receipt). It never
// signs a new jti for a key that has one.
//
// `submitOnce` runs one key (an HTTP request: one item or a whole batch); `submitEachOnce` runs
// one key per item, in chunks, keeping the queue order of the items (`request submit`).
import { z } from 'zod';
import { isCountersignError } from '@countersign/contracts';
import type {
  IdempotencyStore,
  BeginResult,
  FixedRequest,
  StoredResponse,
} from './idempotency-store.ts';
import { RequesterError } from './errors.ts';
import type { ItemFailure, Requester, SignedRequest, SubmitItem, Submitted } from './requester.ts';

export interface IdempotencyId {
  /** Who owns the key space (the API key's name; `request submit` and its issuer). */
  readonly scope: string;
  readonly key: string;
  /** Hash of what the key stands for: the same key with another body is a conflict. */
  readonly bodySha256: string;
}

export type OnceOutcome =
  | { readonly state: 'replay'; readonly response: StoredResponse }
  | { readonly state: 'conflict' }
  | { readonly state: 'in_progress' }
  /** Another attempt took the record over while this one was signing: it sends, not this one. */
  | { readonly state: 'taken_over' }
  | { readonly state: 'answered'; readonly response: StoredResponse; readonly resumed: boolean };

export interface OnceWork {
  /** Signs; sends nothing. Throws when it could sign nothing (nothing is kept then). */
  sign(): Promise<readonly FixedRequest[]>;
  /**
   * Sends the fixed requests (again, on a resume) and builds the answer. `complete` when every
   * signed request is on the queue; otherwise the record stays, and a retry sends them again.
   */
  send(
    fixed: readonly FixedRequest[],
  ): Promise<{ readonly response: StoredResponse; readonly complete: boolean }>;
  /** A store write that failed after the sending started (the record's lease runs out instead). */
  onStoreError?(err: unknown): void;
}

const anySigned = (fixed: readonly FixedRequest[]) => fixed.some((f) => f.ok);

export async function submitOnce(
  store: IdempotencyStore,
  id: IdempotencyId,
  work: OnceWork,
): Promise<OnceOutcome> {
  const { scope, key } = id;
  // A key no record holds yet (the common case) is signed first and reserved with its tokens
  // fixed: one store write before sending instead of two. If a record appeared meanwhile (the
  // same key racing in), begin reports it and the tokens signed here are never sent.
  if ((await store.peek?.(scope, key)) === false) {
    const fixed = await work.sign();
    if (!anySigned(fixed)) return answer(store, id, undefined, fixed, work);
    const begun = await store.begin(scope, key, id.bodySha256, fixed);
    if (begun.state === 'new') return answer(store, id, begun.owner, fixed, work);
    if (begun.state === 'resume') return answer(store, id, begun.owner, begun.fixed, work, true);
    return begun;
  }
  const begun = await store.begin(scope, key, id.bodySha256);
  if (begun.state === 'resume') return answer(store, id, begun.owner, begun.fixed, work, true);
  if (begun.state !== 'new') return begun;
  const { owner } = begun;
  let fixed: readonly FixedRequest[];
  try {
    fixed = await work.sign();
    // Nothing signed: nothing to keep (release drops the reservation).
    if (anySigned(fixed) && !(await store.fix(scope, key, owner, fixed))) {
      return { state: 'taken_over' };
    }
  } catch (err) {
    await release(store, id, owner, work);
    throw err;
  }
  return answer(store, id, owner, fixed, work);
}

/** Best effort: when the store fails too, the lease runs out and a retry resumes. */
const release = (store: IdempotencyStore, id: IdempotencyId, owner: string, work: OnceWork) =>
  store.release(id.scope, id.key, owner).catch((err) => work.onStoreError?.(err));

/**
 * Sends the fixed requests of a record `owner` holds (none: nothing signed, no record) and
 * records the answer.
 */
async function answer(
  store: IdempotencyStore,
  id: IdempotencyId,
  owner: string | undefined,
  fixed: readonly FixedRequest[],
  work: OnceWork,
  resumed = false,
): Promise<OnceOutcome> {
  const { scope, key } = id;
  let sent: Awaited<ReturnType<OnceWork['send']>>;
  try {
    sent = await work.send(fixed);
  } catch (err) {
    // keeps the tokens: the next retry sends them again at once
    if (owner !== undefined) await release(store, id, owner, work);
    throw err;
  }
  if (owner !== undefined) {
    try {
      if (sent.complete && anySigned(fixed)) await store.complete(scope, key, owner, sent.response);
      else await store.release(scope, key, owner);
    } catch (err) {
      // They are on the queue: the answer stands. A retry after the lease sends them again
      // (absorbed as a duplicate) and records the answer then.
      work.onStoreError?.(err);
    }
  }
  return { state: 'answered', response: sent.response, resumed };
}

// ---- the work of the HTTP routes ----

/** One request under one key; the answer is `202 { jti, messageId }`. */
export function singleWork(
  requester: Requester,
  item: SubmitItem,
  onSent?: (sent: Submitted) => void,
): OnceWork {
  return {
    sign: async () => [
      { ok: true, ...(await requester.sign(item.txn, { account: item.account })) },
    ],
    send: async ([fixed]) => {
      if (!fixed?.ok) throw new RequesterError('STORE_FAILED', 'no signed request to resume');
      const sent = await requester.send(fixed);
      onSent?.(sent);
      return {
        response: { status: 202, body: { jti: sent.jti, messageId: sent.messageId } },
        complete: true,
      };
    },
  };
}

export type BatchItemResult =
  | { readonly ok: true; readonly index: number; readonly jti: string; readonly messageId: string }
  | { readonly ok: false; readonly index: number; readonly code: string; readonly message: string };

/**
 * Many requests under one key: every item's jti is fixed before the first is sent. Items that
 * failed to send keep their jti (a retry sends them again); items that failed to sign are final.
 */
export function batchWork(
  requester: Requester,
  items: readonly SubmitItem[],
  respond: (results: readonly BatchItemResult[]) => StoredResponse,
): OnceWork {
  return {
    sign: async () =>
      (await requester.signMany(items)).map((r): FixedRequest =>
        r.ok
          ? { ok: true, jti: r.jti, account: r.account, token: r.token }
          : { ok: false, code: r.code, message: r.message },
      ),
    send: async (fixed) => {
      const signed = fixed.flatMap((f, index) => (f.ok ? [{ index, f }] : []));
      const sent = await requester.submitMany(signed.map(({ f }) => ({ signed: f })));
      const results: BatchItemResult[] = fixed.map((f, index) =>
        f.ok ? { ok: false, index, code: 'QUEUE_FAILED', message: 'not sent' } : { ...f, index },
      );
      sent.forEach((r, i) => {
        const index = signed[i]!.index;
        results[index] = r.ok
          ? { ok: true, index, jti: r.jti, messageId: r.messageId }
          : { ok: false, index, code: r.code, message: r.message };
      });
      return { response: respond(results), complete: sent.every((r) => r.ok) };
    },
  };
}

// ---- one key per item ----

export interface OnceItem extends SubmitItem, Omit<IdempotencyId, 'scope'> {}

export type EachResult =
  | {
      readonly ok: true;
      readonly index: number;
      readonly jti: string;
      readonly messageId: string;
      /** Absent when the answer was replayed (a completed record keeps no token). */
      readonly token?: string;
      /** signed now; resumed = signed by an earlier attempt and sent again now; replayed = nothing sent now. */
      readonly via: 'signed' | 'resumed' | 'replayed';
    }
  | ItemFailure;

export interface SubmitEachOptions {
  readonly scope: string;
  /** Items per round of begin → sign → fix → send → complete. Default 500. */
  readonly chunkSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** Store writes that failed after sending (the items still count as sent). */
  readonly onStoreError?: (err: unknown) => void;
  readonly signal?: AbortSignal;
}

const Accepted = z.strictObject({ jti: z.string(), messageId: z.string() });

function failed(index: number, err: unknown, fallback = 'STORE_FAILED'): ItemFailure {
  return isCountersignError(err)
    ? { ok: false, index, code: err.code, message: err.message }
    : { ok: false, index, code: fallback, message: 'unexpected error' };
}

/**
 * Submits each item at most once under its own key (one result per item, in order). Items are
 * sent in input order, chunk by chunk; an item already answered under its key is not sent
 * again, one left half-done by a crashed run is sent again with its original token.
 */
export async function submitEachOnce(
  requester: Requester,
  store: IdempotencyStore,
  items: readonly OnceItem[],
  options: SubmitEachOptions,
): Promise<EachResult[]> {
  const { scope, signal } = options;
  const chunkSize = Math.max(1, options.chunkSize ?? 500);
  const results = new Array<EachResult>(items.length);
  const storeError = (err: unknown) => options.onStoreError?.(err);

  for (let start = 0; start < items.length; start += chunkSize) {
    signal?.throwIfAborted();
    const chunk = items.slice(start, start + chunkSize);
    const owners = new Map<number, string>();
    const release = (index: number) => {
      const owner = owners.get(index);
      if (owner === undefined) return Promise.resolve();
      return store.release(scope, items[index]!.key, owner).catch(storeError);
    };
    const begun = await Promise.all(
      chunk.map((item, i) =>
        store.begin(scope, item.key, item.bodySha256).then(
          (b): BeginResult | ItemFailure => b,
          (err: unknown) => failed(start + i, err),
        ),
      ),
    );
    const toSend = new Map<number, SignedRequest & { via: 'signed' | 'resumed' }>();
    const toSign: number[] = [];
    begun.forEach((b, i) => {
      const index = start + i;
      if ('ok' in b) return void (results[index] = b);
      switch (b.state) {
        case 'replay': {
          const body = Accepted.safeParse(b.response.body);
          results[index] = body.success
            ? { ok: true, index, ...body.data, via: 'replayed' }
            : { ok: false, index, code: 'STORE_FAILED', message: 'a stored answer is corrupt' };
          return;
        }
        case 'conflict':
          results[index] = {
            ok: false,
            index,
            code: 'IDEMPOTENCY_CONFLICT',
            message: 'this key was used for another request',
          };
          return;
        case 'in_progress':
          results[index] = {
            ok: false,
            index,
            code: 'IDEMPOTENCY_CONFLICT',
            message: 'another run holds this item (or one that stopped less than a lease ago)',
          };
          return;
        case 'new':
          owners.set(index, b.owner);
          toSign.push(index);
          return;
        case 'resume': {
          owners.set(index, b.owner);
          const first = b.fixed[0];
          if (first?.ok) toSend.set(index, { ...first, via: 'resumed' });
          else
            results[index] = {
              ok: false,
              index,
              code: 'STORE_FAILED',
              message: 'nothing stored to resume',
            };
          return;
        }
      }
    });

    const signed = await requester.signMany(
      toSign.map((index) => items[index]!),
      signal ? { signal } : {},
    );
    await Promise.all(
      signed.map(async (s, i) => {
        const index = toSign[i]!;
        if (!s.ok) {
          results[index] = { ...s, index };
          return release(index); // nothing was kept: the reservation goes
        }
        const request: SignedRequest = { jti: s.jti, account: s.account, token: s.token };
        try {
          if (
            await store.fix(scope, items[index]!.key, owners.get(index)!, [
              { ok: true, ...request },
            ])
          ) {
            toSend.set(index, { ...request, via: 'signed' });
          } else {
            owners.delete(index);
            results[index] = {
              ok: false,
              index,
              code: 'IDEMPOTENCY_CONFLICT',
              message: 'another run took this item over',
            };
          }
        } catch (err) {
          results[index] = failed(index, err);
          return release(index);
        }
        return undefined;
      }),
    );

    const order = [...toSend.keys()].sort((a, b) => a - b);
    const sent = await requester.submitMany(
      order.map((index) => ({ signed: toSend.get(index)! })),
      signal ? { signal } : {},
    );
    await Promise.all(
      sent.map((r, i) => {
        const index = order[i]!;
        if (!r.ok) {
          results[index] = { ...r, index };
          return release(index); // keeps the token: the next run sends it again
        }
        results[index] = {
          ok: true,
          index,
          jti: r.jti,
          messageId: r.messageId,
          token: r.token,
          via: toSend.get(index)!.via,
        };
        const response = { status: 202, body: { jti: r.jti, messageId: r.messageId } };
        return store
          .complete(scope, items[index]!.key, owners.get(index)!, response)
          .catch(storeError);
      }),
    );
    options.onProgress?.(Math.min(items.length, start + chunkSize), items.length);
  }
  return results;
}
