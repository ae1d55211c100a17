// The requester library: validate a transaction request, sign it (the only place a request gets
// signed) and enqueue the token on the FIFO queue (group = account, dedup id = jti).
//
// An invalid request is never signed. `submitMany` signs with bounded concurrency (KMS is the
// slow, quota-bound step) and sends in batches (10 for SQS, the queue's `maxBatchSize` otherwise)
// in input order, so one account's requests reach its FIFO group in the order they were given.
//
// A retry must not sign again: a new jti is a new order that neither the queue's dedup nor the
// gateway's replay guard can recognise. So signing and sending are also offered apart (`sign`,
// `signMany`, `send`, and `ResendItem`s in `submitMany`): a caller that may crash keeps the
// signed request first (the HTTP API in its idempotency record) and later sends the same token.
//
// With `remember`, every signed order is remembered (iss, jti, account: transaction-store.ts)
// before its signature is used: the write runs while the signature is computed, and a request is
// returned or sent only once both are done, so an order a caller hears of always has a status.
import pLimit from 'p-limit';
import {
  CountersignError,
  Identifier,
  MAX_LIFETIME_SEC,
  requestBatchHeadClaims,
  TokenTypes,
  TransactionRequest,
  isCountersignError,
  newJti,
  safeParse,
} from '@countersign/contracts';
import type { Clock, FieldIssue, RequestClaims } from '@countersign/contracts';
import { createBatchSigner, signJwt } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import type { OutgoingMessage, Queue } from '@countersign/transport';
import { injectTrace, noopMetrics, withSpan, type Metrics } from '@countersign/observability';
import { RequesterError, requestInvalid } from './errors.ts';
import type { SubmittedOrder } from './transaction-store.ts';

/** SQS SendMessageBatch takes at most 10 entries; the default when the queue names no size. */
export const SEND_BATCH_SIZE = 10;
export const DEFAULT_SIGN_CONCURRENCY = 16;
/** Orders remembered per write when many are signed together (one group-commit operation). */
const REMEMBER_CHUNK = 500;

function storeFailure(cause: unknown): Error {
  return isCountersignError(cause)
    ? cause
    : new RequesterError('STORE_FAILED', 'remembering the order failed', { cause });
}

export interface RequesterOptions {
  readonly signer: Signer;
  readonly queue: Queue;
  /** `iss`: this requester's id. */
  readonly issuer: string;
  /** `aud`: the gateway's id. */
  readonly audience: string;
  /** exp − iat, at most 300 s. */
  readonly lifetimeSec: number;
  readonly clock: Clock;
  /** Signatures in flight at once in submitMany. Default 16. */
  readonly signConcurrency?: number;
  /**
   * Batch signing (issue #20): requests signed together (one submitMany, concurrent HTTP calls)
   * share one signature over a Merkle head; one signature in flight at a time, so signConcurrency
   * does not apply. Off (per-item tokens) unless given.
   */
  readonly batchSigning?: { readonly maxBatchSize?: number };
  /**
   * Keeps each order before it can be sent (a TransactionStore's `remember`); a failure fails the
   * signing (STORE_FAILED) and nothing is sent. Absent: orders are not remembered.
   */
  readonly remember?: (orders: readonly SubmittedOrder[]) => Promise<void>;
  /** requests_total by result and reason. Default: not recorded. */
  readonly metrics?: Metrics;
}

export interface Submitted {
  readonly jti: string;
  readonly messageId: string;
  /** The signed request token; return it only to the caller that asked for it. */
  readonly token: string;
}

/**
 * A signed request not sent yet (or to be sent again). Its jti is the order's identity: keep it
 * (with the token) before sending, and a retry sends this same token, which the queue's dedup
 * (dedup id = jti) or the gateway's replay guard (`iss#jti`) absorbs. Signing again would make
 * a second order.
 */
export interface SignedRequest {
  readonly jti: string;
  /** The FIFO group: the token's `sub`. */
  readonly account: string;
  readonly token: string;
}

export interface SubmitItem {
  /** Unvalidated: checked against the contracts schema before anything is signed. */
  readonly txn: unknown;
  readonly account: unknown;
}

/** A request signed before (its jti already kept by the caller): sent as it is, never re-signed. */
export interface ResendItem {
  readonly signed: SignedRequest;
}

export type SubmitManyItem = SubmitItem | ResendItem;

export interface ItemFailure {
  readonly ok: false;
  readonly index: number;
  readonly code: string;
  readonly message: string;
  readonly issues?: readonly FieldIssue[];
}

export type ItemResult = ({ readonly ok: true; readonly index: number } & Submitted) | ItemFailure;

export type SignResult =
  ({ readonly ok: true; readonly index: number } & SignedRequest) | ItemFailure;

export interface SubmitManyOptions {
  /** Called after each batch is settled: items done (ok or not) and total. */
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

export interface Requester {
  /** Signs and enqueues one request. */
  submit(txn: unknown, options: { readonly account: unknown }): Promise<Submitted>;
  /**
   * Signs (bounded concurrency) and enqueues many, in input order; `ResendItem`s are sent again
   * as they are. One result per item; a failure is reported on its item only.
   */
  submitMany(items: readonly SubmitManyItem[], options?: SubmitManyOptions): Promise<ItemResult[]>;
  /** Validates and signs one request without sending it (keep it, then `send`). */
  sign(txn: unknown, options: { readonly account: unknown }): Promise<SignedRequest>;
  /** Signs many without sending them; one result per item, in order. */
  signMany(
    items: readonly SubmitItem[],
    options?: { readonly signal?: AbortSignal },
  ): Promise<SignResult[]>;
  /** Enqueues a signed request (group = account, dedup id = jti); sending it again is harmless. */
  send(request: SignedRequest, signal?: AbortSignal): Promise<Submitted>;
}

interface Prepared {
  readonly claims: RequestClaims;
}

function failure(index: number, err: unknown): ItemFailure {
  if (isCountersignError(err)) {
    const issues = (err as { issues?: readonly FieldIssue[] }).issues;
    return err.code === 'REQUEST_INVALID' && issues !== undefined
      ? { ok: false, index, code: err.code, message: err.message, issues }
      : { ok: false, index, code: err.code, message: err.message };
  }
  return { ok: false, index, code: 'SIGNING_FAILED', message: 'unexpected error' };
}

export function createRequester(options: RequesterOptions): Requester {
  const { signer, queue, issuer, audience, lifetimeSec, clock } = options;
  if (!Number.isInteger(lifetimeSec) || lifetimeSec < 1 || lifetimeSec > MAX_LIFETIME_SEC) {
    throw new RequesterError(
      'CONFIG_INVALID',
      `lifetimeSec must be an integer from 1 to ${MAX_LIFETIME_SEC}, got ${String(lifetimeSec)}`,
    );
  }
  for (const [name, value] of [
    ['issuer', issuer],
    ['audience', audience],
  ] as const) {
    if (!Identifier.safeParse(value).success) {
      throw new RequesterError('CONFIG_INVALID', `${name} must match [A-Za-z0-9._:-]{1,64}`);
    }
  }
  const limit = pLimit(options.signConcurrency ?? DEFAULT_SIGN_CONCURRENCY);
  const batching = options.batchSigning
    ? createBatchSigner<RequestClaims>({
        signer,
        typ: TokenTypes.REQUEST,
        headClaims: (_items, tree) =>
          requestBatchHeadClaims({ iss: issuer, iat: Math.floor(clock.now() / 1000), ...tree }),
        ...(options.batchSigning.maxBatchSize === undefined
          ? {}
          : { maxBatchSize: options.batchSigning.maxBatchSize }),
      })
    : undefined;
  const metrics = options.metrics ?? noopMetrics;
  const accepted = (n = 1) =>
    metrics.count('requests_total', { result: 'accepted', reason: 'NONE' }, n);
  const refused = (reason: string) =>
    metrics.count('requests_total', { result: 'refused', reason });
  const codeOf = (err: unknown, fallback: string) =>
    isCountersignError(err) ? err.code : fallback;

  /** Validates and builds the claims; throws REQUEST_INVALID with every bad field path. */
  function prepare(txn: unknown, account: unknown): Prepared {
    const issues: FieldIssue[] = [];
    const acct = safeParse(Identifier, account, 'account');
    if (!acct.ok) issues.push(...acct.issues);
    const body = safeParse(TransactionRequest, txn, 'txn');
    if (!body.ok) issues.push(...body.issues);
    if (!acct.ok || !body.ok) throw requestInvalid(issues);
    const iat = Math.floor(clock.now() / 1000);
    const claims: RequestClaims = {
      iss: issuer,
      sub: acct.value,
      aud: audience,
      iat,
      nbf: iat,
      exp: iat + lifetimeSec,
      jti: newJti(clock.now()),
      txn: body.value,
    };
    // Every part is validated (issuer/audience at construction, account and txn above), so
    // the claims match the wire schema by construction; requester.test.ts checks it with the
    // contracts' RequestClaims schema rather than paying a second parse per request here.
    return { claims };
  }

  async function sign(claims: RequestClaims): Promise<string> {
    try {
      return batching
        ? await batching.sign(claims)
        : await signJwt(signer, claims, { typ: TokenTypes.REQUEST });
    } catch (err) {
      if (isCountersignError(err)) throw err;
      throw new RequesterError('SIGNING_FAILED', 'signing the request failed', { cause: err });
    }
  }

  /** The queue message of a signed request; the active trace context travels beside the token. */
  function message(request: SignedRequest): OutgoingMessage {
    const trace = injectTrace();
    return {
      body: request.token,
      groupId: request.account,
      dedupId: request.jti,
      ...(trace ? { trace } : {}),
    };
  }

  /** Remembers orders (chunks of REMEMBER_CHUNK); never rejects: a failure is the result. */
  function rememberAll(claims: readonly RequestClaims[]): Promise<unknown>[] {
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < claims.length; i += REMEMBER_CHUNK) {
      const orders = claims
        .slice(i, i + REMEMBER_CHUNK)
        .map((c) => ({ iss: c.iss, jti: c.jti, account: c.sub }));
      chunks.push(
        options.remember!(orders).then(
          () => undefined,
          (err: unknown) =>
            err ?? new RequesterError('STORE_FAILED', 'remembering the order failed'),
        ),
      );
    }
    return chunks;
  }

  /** Signs prepared claims; resolves once the signature and the order's remembering are done. */
  async function signPrepared(
    claims: RequestClaims,
    remembered: Promise<unknown> | undefined,
    signal?: AbortSignal,
  ): Promise<SignedRequest> {
    const signNow = () => {
      signal?.throwIfAborted();
      return sign(claims);
    };
    // Batching: every item must reach the batch signer at once to share a head; it keeps one
    // signature in flight by itself.
    const signing = batching ? signNow() : limit(signNow);
    // `remembered` never rejects (its failure is its value), so nothing is left unobserved.
    const [token, failed] = await Promise.all([signing, remembered]);
    if (failed !== undefined) throw storeFailure(failed);
    return { jti: claims.jti, account: claims.sub, token };
  }

  async function signOne(txn: unknown, account: unknown, signal?: AbortSignal) {
    try {
      const { claims } = prepare(txn, account);
      const remembered = options.remember ? rememberAll([claims])[0] : undefined;
      return await signPrepared(claims, remembered, signal);
    } catch (err) {
      refused(codeOf(err, 'SIGNING_FAILED'));
      throw err;
    }
  }

  /** Starts signing every item now (bounded by the limiter); resend items are ready as they are. */
  function startSigning(
    items: readonly SubmitManyItem[],
    signal: AbortSignal | undefined,
  ): Promise<SignResult>[] {
    // Validate every item first, so the valid ones are remembered in a few writes, not one each.
    const prepared = items.map((item): Prepared | ResendItem | { readonly invalid: unknown } => {
      if ('signed' in item) return item;
      try {
        return prepare(item.txn, item.account);
      } catch (err) {
        return { invalid: err }; // never signed
      }
    });
    const fresh = prepared.flatMap((p) => ('claims' in p ? [p.claims] : []));
    const remembered = options.remember ? rememberAll(fresh) : [];
    let nth = 0;
    return prepared.map((p, index) => {
      if ('signed' in p) return Promise.resolve({ ok: true, index, ...p.signed });
      if ('invalid' in p) {
        refused(codeOf(p.invalid, 'REQUEST_INVALID'));
        return Promise.resolve(failure(index, p.invalid));
      }
      const chunk = remembered[Math.floor(nth++ / REMEMBER_CHUNK)];
      return signPrepared(p.claims, chunk, signal).then(
        (signed): SignResult => ({ ok: true, index, ...signed }),
        (err: unknown) => {
          refused(codeOf(err, 'SIGNING_FAILED'));
          return failure(index, err);
        },
      );
    });
  }

  /** Sends one chunk of signed requests in one call; fills in each one's result. */
  async function sendChunk(
    ready: readonly (SignedRequest & { readonly index: number })[],
    results: ItemResult[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    try {
      const sent = await withSpan('queue.sendBatch', { 'countersign.messages': ready.length }, () =>
        queue.sendBatch(ready.map(message), signal),
      );
      accepted(sent.filter((r) => r.ok).length);
      sent.forEach((r) => {
        if (!r.ok) refused('QUEUE_FAILED');
      });
      ready.forEach((r, i) => {
        const res = sent[i];
        results[r.index] =
          res === undefined
            ? { ok: false, index: r.index, code: 'QUEUE_FAILED', message: 'no send result' }
            : res.ok
              ? { ok: true, index: r.index, jti: r.jti, messageId: res.messageId, token: r.token }
              : {
                  ok: false,
                  index: r.index,
                  code: 'QUEUE_FAILED',
                  message: `${res.code}: ${res.message}`,
                };
      });
    } catch (err) {
      const code = codeOf(err, 'QUEUE_FAILED');
      ready.forEach(() => refused(code));
      const msg = err instanceof CountersignError ? err.message : 'sending the batch failed';
      for (const r of ready) results[r.index] = { ok: false, index: r.index, code, message: msg };
    }
  }

  async function send(request: SignedRequest, signal?: AbortSignal): Promise<Submitted> {
    try {
      const { messageId } = await withSpan('queue.send', { 'countersign.jti': request.jti }, () =>
        queue.send(message(request), signal),
      );
      accepted();
      return { jti: request.jti, messageId, token: request.token };
    } catch (err) {
      refused(codeOf(err, 'QUEUE_FAILED'));
      throw err;
    }
  }

  return {
    submit: (txn, { account }) =>
      withSpan('requester.submit', {}, async () => send(await signOne(txn, account))),

    sign: (txn, { account }) => signOne(txn, account),

    signMany: (items, { signal } = {}) => Promise.all(startSigning(items, signal)),

    send,

    submitMany: (items, options = {}) =>
      withSpan('requester.submitMany', { 'countersign.items': items.length }, () =>
        submitManyNow(items, options),
      ),
  };

  async function submitManyNow(
    items: readonly SubmitManyItem[],
    { onProgress, signal }: SubmitManyOptions,
  ): Promise<ItemResult[]> {
    const total = items.length;
    const results: ItemResult[] = new Array<ItemResult>(total);
    // Start every signature now (bounded by the limiter); send batches in order as they finish.
    const signed = startSigning(items, signal);
    const batchSize = Math.max(1, queue.maxBatchSize ?? SEND_BATCH_SIZE);
    for (let start = 0; start < total; start += batchSize) {
      const ready: (SignedRequest & { readonly index: number })[] = [];
      for (const entry of await Promise.all(signed.slice(start, start + batchSize))) {
        if (entry.ok) ready.push(entry);
        else results[entry.index] = entry;
      }
      if (ready.length > 0) await sendChunk(ready, results, signal);
      onProgress?.(Math.min(total, start + batchSize), total);
    }
    return results;
  }
}
