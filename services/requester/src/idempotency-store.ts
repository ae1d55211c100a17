// The IdempotencyStore port (Idempotency-Key of the HTTP API, lines of `request submit`), the
// rules every adapter shares (pure transitions on a record), and the in-memory adapter.
//
// The record owns the request's identity before anything leaves the requester: the key is
// reserved, then the signed request(s) (jti + token) are fixed in the record, then sent, then
// the answer is recorded. A retry that takes the record over sends the SAME tokens again (the
// queue's dedup by jti or the gateway's replay guard absorbs the copy); it never signs anew.
//
// Record states, per (scope, key):
//
//   begin ──▶ RESERVED ──fix(signed)──▶ FIXED ──send──▶ complete(response) ──▶ COMPLETED ──(24 h)──▶ gone
//   (owner, lease)  │                     │  └── release() (send failed): lease ends now
//                   │                     └── lease over (the process died): the next begin
//                   │                         RESUMES it: same tokens, new owner
//                   ├── release() (signing failed) ──▶ gone: nothing was sent
//                   └── lease over (died before fix) ──▶ the next begin reserves it afresh
//
// A key with no record yet (`peek`) is usually signed first and reserved already FIXED by
// `begin(..., fixed)`: one write instead of two before the send, the same states after it.
//
// Only the owner (the begin that reserved or resumed the record) may fix, complete or release
// it: a slow owner whose lease was taken over finds `fix` refused and sends nothing. Every
// record is forgotten 24 h after its first begin.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { Identifier, Jti } from '@countersign/contracts';
import type { Clock } from '@countersign/contracts';
import { decodeUnverified } from '@countersign/verifier';
import { RequesterError } from './errors.ts';
import type { SignedRequest } from './requester.ts';

/** Keys are kept 24 h (the retry window promised to clients). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** An owner silent this long is presumed dead: the next begin takes the record over. */
export const IDEMPOTENCY_LEASE_MS = 60 * 1000;

export interface StoredResponse {
  readonly status: number;
  /** The JSON body returned the first time ({ jti, messageId }, or the batch results). */
  readonly body: unknown;
}

/** One request of a record: signed (identity fixed), or failed to sign (nothing was sent). */
export type FixedRequest =
  | ({ readonly ok: true } & SignedRequest)
  | { readonly ok: false; readonly code: string; readonly message: string };

export type BeginResult =
  /** Reserved; nothing signed yet. `owner` fences the later calls. */
  | { readonly state: 'new'; readonly owner: string }
  /** Taken over after the owner's lease: send these again, sign nothing. */
  | { readonly state: 'resume'; readonly owner: string; readonly fixed: readonly FixedRequest[] }
  | { readonly state: 'replay'; readonly response: StoredResponse }
  | { readonly state: 'conflict' }
  | { readonly state: 'in_progress' };

export interface IdempotencyStore {
  /**
   * Atomically reserves (scope, key) for a body hash, resumes it, or reports what is there.
   * With `fixed` (requests signed before the key was reserved), a reservation is written with
   * them already fixed: reserve and fix in one write. Any other result leaves them unused.
   */
  begin(
    scope: string,
    key: string,
    bodySha256: string,
    fixed?: readonly FixedRequest[],
  ): Promise<BeginResult>;
  /**
   * A hint, read outside any transaction: false when no record exists for the key now, so the
   * caller may sign first and reserve with `begin(..., fixed)` (one write instead of two). An
   * adapter whose read costs a round trip leaves it out: then every key is reserved first.
   */
  peek?(scope: string, key: string): Promise<boolean>;
  /** Keeps the signed request(s) before any is sent; false when `owner` lost the record. */
  fix(scope: string, key: string, owner: string, fixed: readonly FixedRequest[]): Promise<boolean>;
  /** Records the answer (later begins replay it); a no-op for an owner that lost the record. */
  complete(scope: string, key: string, owner: string, response: StoredResponse): Promise<void>;
  /**
   * The attempt failed: a record with nothing signed is dropped (a retry starts afresh); one
   * with signed requests is kept and its lease ended, so a retry resumes it at once.
   */
  release(scope: string, key: string, owner: string): Promise<void>;
  close?(): Promise<void>;
}

export interface IdempotencyStoreOptions {
  readonly clock: Clock;
  readonly ttlMs?: number;
  readonly leaseMs?: number;
}

/** What an adapter stores per (scope, key). */
export interface IdempotencyRecord {
  readonly bodySha256: string;
  /** First begin (epoch ms): the record is forgotten `ttlMs` later. */
  readonly createdAt: number;
  /** Until when `owner` holds the record (epoch ms). */
  readonly leaseUntil: number;
  /** null once completed or released. */
  readonly owner: string | null;
  readonly fixed: readonly FixedRequest[] | null;
  readonly response: StoredResponse | null;
}

/** A transition: the record to write (null = delete, undefined = unchanged) and the answer. */
export interface Transition<R> {
  readonly record: IdempotencyRecord | null | undefined;
  readonly result: R;
}

export interface Limits {
  readonly now: number;
  readonly ttlMs: number;
  readonly leaseMs: number;
}

const hasSigned = (fixed: readonly FixedRequest[] | null) =>
  fixed !== null && fixed.some((f) => f.ok);

const unchanged = <R>(result: R): Transition<R> => ({ record: undefined, result });

/** begin: shared by the adapters so they behave the same. */
export function beginTransition(
  existing: IdempotencyRecord | undefined,
  bodySha256: string,
  { now, ttlMs, leaseMs }: Limits,
  newOwner: string,
  fixed: readonly FixedRequest[] | null = null,
): Transition<BeginResult> {
  const reserve = (): Transition<BeginResult> => ({
    record: {
      bodySha256,
      createdAt: now,
      leaseUntil: now + leaseMs,
      owner: newOwner,
      fixed,
      response: null,
    },
    result: { state: 'new', owner: newOwner },
  });
  if (existing === undefined || now - existing.createdAt >= ttlMs) return reserve();
  const abandoned = existing.response === null && now >= existing.leaseUntil;
  // Died before anything was signed: nothing left the requester, whatever the body was.
  if (abandoned && !hasSigned(existing.fixed)) return reserve();
  if (existing.bodySha256 !== bodySha256) return unchanged({ state: 'conflict' });
  if (existing.response !== null) {
    return unchanged({ state: 'replay', response: existing.response });
  }
  if (!abandoned) return unchanged({ state: 'in_progress' });
  return {
    record: { ...existing, leaseUntil: now + leaseMs, owner: newOwner },
    result: { state: 'resume', owner: newOwner, fixed: existing.fixed ?? [] },
  };
}

/** The record is reserved or resumed by `owner` and not answered yet. */
function ownedBy(
  existing: IdempotencyRecord | undefined,
  owner: string,
): existing is IdempotencyRecord {
  return existing !== undefined && existing.owner === owner && existing.response === null;
}

export function fixTransition(
  existing: IdempotencyRecord | undefined,
  owner: string,
  fixed: readonly FixedRequest[],
  { now, leaseMs }: Limits,
): Transition<boolean> {
  // Fixed once: a record's requests never change (they may be on the queue already).
  if (!ownedBy(existing, owner) || existing.fixed !== null) return unchanged(false);
  return { record: { ...existing, fixed, leaseUntil: now + leaseMs }, result: true };
}

export function completeTransition(
  existing: IdempotencyRecord | undefined,
  owner: string,
  response: StoredResponse,
): Transition<void> {
  if (!ownedBy(existing, owner)) return unchanged(undefined);
  // The tokens are bearer credentials and no longer needed: the answer is what gets replayed.
  return { record: { ...existing, owner: null, fixed: null, response }, result: undefined };
}

export function releaseTransition(
  existing: IdempotencyRecord | undefined,
  owner: string,
  { now }: Limits,
): Transition<void> {
  if (!ownedBy(existing, owner)) return unchanged(undefined);
  if (!hasSigned(existing.fixed)) return { record: null, result: undefined };
  return { record: { ...existing, owner: null, leaseUntil: now }, result: undefined };
}

// ---- reading stored values back (a data file is input like any other) ----

const FixedRequestSchema = z.union([
  z.strictObject({
    ok: z.literal(true),
    jti: Jti,
    account: Identifier,
    token: z.string().min(1).max(65_536),
  }),
  z.strictObject({ ok: z.literal(false), code: z.string(), message: z.string() }),
]);
const FixedSchema = z.array(FixedRequestSchema).min(1);
const ResponseSchema = z.strictObject({ status: z.number().int(), body: z.unknown() });

/**
 * Parses stored `fixed` JSON; throws STORE_FAILED when it is not what this requester wrote (a
 * token whose unverified jti or sub does not match its entry would be sent for another order).
 */
export function parseFixed(text: string, where: string): FixedRequest[] {
  const parsed = FixedSchema.safeParse(safeJson(text));
  const bad = () => new RequesterError('STORE_FAILED', `${where}: a stored request is corrupt`);
  if (!parsed.success) throw bad();
  for (const f of parsed.data) {
    if (!f.ok) continue;
    const unverified = decodeUnverified(f.token);
    if (unverified?.jti !== f.jti || unverified.sub !== f.account) throw bad();
  }
  return parsed.data;
}

export function parseResponse(text: string, where: string): StoredResponse {
  const parsed = ResponseSchema.safeParse(safeJson(text));
  if (!parsed.success) {
    throw new RequesterError('STORE_FAILED', `${where}: a stored response is corrupt`);
  }
  return parsed.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

// ---- the in-memory adapter (Lambda: per container; tests) ----

export function createMemoryIdempotencyStore(options: IdempotencyStoreOptions): IdempotencyStore {
  const ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS;
  const leaseMs = options.leaseMs ?? IDEMPOTENCY_LEASE_MS;
  const records = new Map<string, IdempotencyRecord>();
  const id = (scope: string, key: string) => JSON.stringify([scope, key]);
  const limits = (): Limits => ({ now: options.clock.now(), ttlMs, leaseMs });
  let begins = 0;
  const purge = (now: number) => {
    for (const [k, r] of records) if (now - r.createdAt >= ttlMs) records.delete(k);
  };
  const apply = <R>(
    scope: string,
    key: string,
    step: (r: IdempotencyRecord | undefined) => Transition<R>,
  ) => {
    const k = id(scope, key);
    const { record, result } = step(records.get(k));
    if (record === null) records.delete(k);
    else if (record !== undefined) records.set(k, record);
    return Promise.resolve(result);
  };
  return {
    begin: (scope, key, bodySha256, fixed) =>
      apply(scope, key, (r) => {
        const l = limits();
        // Expired records are dropped now and then, not on every call.
        if (++begins % 1000 === 0) purge(l.now);
        return beginTransition(r, bodySha256, l, randomUUID(), fixed);
      }),
    peek: (scope, key) => Promise.resolve(records.has(id(scope, key))),
    fix: (scope, key, owner, fixed) =>
      apply(scope, key, (r) => fixTransition(r, owner, fixed, limits())),
    complete: (scope, key, owner, response) =>
      apply(scope, key, (r) => completeTransition(r, owner, response)),
    release: (scope, key, owner) => apply(scope, key, (r) => releaseTransition(r, owner, limits())),
  };
}
