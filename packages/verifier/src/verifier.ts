// createVerifier: local JWS verification, checks in the order of DESIGN.md §5, each failure its
// own code. Nothing from the token is trusted before the signature verified: the header is only
// used to pick a key and an alg (both pinned by us), and the payload is parsed after.
// Speed: node:crypto over cached KeyObjects; a verified header is cached by its exact bytes.
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { z } from 'zod';
import {
  Algorithms,
  BatchTypOf,
  CheckpointClaims,
  CountersignError,
  isBatchableType,
  isBatchItem,
  isCountersignError,
  MAX_LIFETIME_SEC,
  ReceiptBatchHeadClaims,
  ReceiptClaims,
  RequestBatchHeadClaims,
  RequestClaims,
  systemClock,
  TokenTypes,
  type Algorithm,
  type Clock,
  type TokenType,
} from '@countersign/contracts';
import { ALGORITHMS, cryptoKeyOptions } from '@countersign/signing';
import { createBatchItemOpener, type VerifiedBatch } from './batch-item.ts';
import { compiledClaimsCheck } from './claims-check.ts';
import { unverifiedIat } from './decode-unverified.ts';
import { excerpt, VerificationError } from './errors.ts';
import type { KeyEntry, KeyResolver, ResolveHint } from './key-resolvers.ts';
import { hasMemberCount, parseStrictJson } from './strict-json.ts';

/** The claims type each token type verifies to by default. */
export type DefaultClaims<Y extends TokenType> = Y extends 'txn+jwt'
  ? RequestClaims
  : Y extends 'txn-receipt+jwt'
    ? ReceiptClaims
    : Y extends 'txn-checkpoint+jwt'
      ? CheckpointClaims
      : Y extends 'txn-batch+jwt'
        ? RequestBatchHeadClaims
        : Y extends 'txn-receipt-batch+jwt'
          ? ReceiptBatchHeadClaims
          : never;

export interface VerifierOptions<Y extends TokenType, T> {
  readonly keys: KeyResolver;
  /** Trusted `iss` values; `null` turns the check off (explicitly, never by omission). */
  readonly issuers: readonly string[] | null;
  /** Required `aud`; `null` for tokens without an audience (receipts, checkpoints). */
  readonly audience: string | null;
  readonly typ: Y;
  /** Claims schema; defaults to the schema of `typ`. */
  readonly claims?: z.ZodType<T>;
  /** Allowed algs (default: RS256, PS256, ES256, ES384). */
  readonly algorithms?: readonly Algorithm[];
  /** Allowed clock skew, seconds (default 30, max 300). */
  readonly clockSkewSec?: number;
  /** Max `exp − iat`, seconds (default 300). */
  readonly maxLifetimeSec?: number;
  /** Max token length (default 8192). */
  readonly maxTokenBytes?: number;
  readonly clock?: Clock;
  /**
   * Where signatures are checked: 'auto' (default) verifies inline when calls come one at a
   * time and on libuv's thread pool when several are in flight; 'inline' or 'threadpool' force.
   * 'inline' also answers a token whose key is loaded without a promise hop: the choice of a
   * caller that verifies one token at a time.
   */
  readonly cryptoMode?: 'auto' | 'inline' | 'threadpool';
  /** Verified batch heads kept (default 1024); each for at most maxLifetimeSec + skew. */
  readonly batchHeadCacheSize?: number;
}

export interface VerifiedHeader {
  readonly alg: Algorithm;
  readonly kid: string;
  readonly typ: TokenType;
}

export interface Verified<T> {
  readonly header: VerifiedHeader;
  readonly claims: T;
  readonly key: KeyEntry;
  /** Set when the token was a batch item: the head that signed it. */
  readonly batch?: VerifiedBatch;
}

export interface VerifyOptions {
  /** Verify as of this time (epoch ms) instead of now: used by audit to re-check old tokens. */
  readonly at?: number;
}

export interface Verifier<T> {
  verify(token: string, options?: VerifyOptions): Promise<Verified<T>>;
}

const DEFAULT_SCHEMAS: Readonly<Record<TokenType, z.ZodType<unknown>>> = {
  [TokenTypes.REQUEST]: RequestClaims,
  [TokenTypes.RECEIPT]: ReceiptClaims,
  [TokenTypes.CHECKPOINT]: CheckpointClaims,
  [TokenTypes.REQUEST_BATCH]: RequestBatchHeadClaims,
  [TokenTypes.RECEIPT_BATCH]: ReceiptBatchHeadClaims,
};

const HEADER_MEMBERS = new Set(['alg', 'kid', 'typ']);
const HEADER_CACHE_MAX = 1024;

function fail(code: VerificationError['code'], message: string, claim?: string): never {
  throw new VerificationError(code, message, claim === undefined ? {} : { claim });
}

const B64U_TEXT = /^[A-Za-z0-9_-]*$/;
const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Canonical unpadded base64url, what decoding and re-encoding gives back unchanged: only the
 * alphabet, no length that leaves a lone character, and zero padding bits in the last one.
 */
function isCanonical(segment: string): boolean {
  if (!B64U_TEXT.test(segment)) return false;
  const rest = segment.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const last = B64U.indexOf(segment[segment.length - 1]!);
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

function decodeJson(bytes: Buffer, what: 'header' | 'payload'): unknown {
  const code = what === 'header' ? 'MALFORMED' : 'CLAIMS_INVALID';
  if (!isUtf8(bytes)) fail(code, `${what} is not valid UTF-8`);
  const parsed = parseStrictJson(bytes.toString('utf8'));
  if (!parsed.ok) fail(code, `${what}: ${parsed.reason}`);
  const v = parsed.value;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    fail(code, `${what} is not a JSON object`);
  }
  return v;
}

interface PreparedKey {
  readonly hash: 'sha256' | 'sha384';
  readonly options: ReturnType<typeof cryptoKeyOptions>;
  readonly signatureBytes: number;
}
const prepared = new WeakMap<KeyEntry, PreparedKey>();

// verify calls in progress in this process, across verifiers: the audit checks a receipt and
// then its request with two verifiers, and either one alone would look idle.
let active = 0;

/** What the verifier may answer for an error: its own errors as they are, anything else MALFORMED. */
function asVerifyError(err: unknown): Error {
  if (isCountersignError(err)) return err; // verification errors, and key loading failures
  // Anything unexpected on untrusted input is a malformed token, not a crash.
  return new VerificationError('MALFORMED', 'token could not be processed');
}

interface ParsedToken {
  readonly header: VerifiedHeader;
  readonly payload: Buffer;
  readonly sig: Buffer;
  /** Length of the signing input (header.payload) in the token. */
  readonly signedLength: number;
}

function prepare(entry: KeyEntry): PreparedKey {
  let p = prepared.get(entry);
  if (!p) {
    const spec = ALGORITHMS[entry.alg];
    const key: KeyObject = entry.key;
    p = {
      hash: spec.hash,
      options: cryptoKeyOptions(key, entry.alg),
      signatureBytes:
        spec.kty === 'EC'
          ? spec.componentBytes! * 2
          : Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8),
    };
    prepared.set(entry, p);
  }
  return p;
}

function verifyOnThreadPool(p: PreparedKey, data: Buffer, sig: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    cryptoVerify(p.hash, data, p.options, sig, (err, ok) => resolve(err ? false : ok));
  });
}

function isoOf(epochSec: number): string {
  const d = new Date(epochSec * 1000);
  return Number.isNaN(d.getTime()) ? String(epochSec) : d.toISOString();
}

function numericClaim(claims: Record<string, unknown>, name: string): number | undefined {
  const v = claims[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    fail('CLAIMS_INVALID', `claim ${name}: must be a number`, name);
  return v;
}

function checkOptions<Y extends TokenType, T>(o: VerifierOptions<Y, T>): void {
  const bad = (msg: string) => {
    throw new CountersignError('CONFIG_INVALID', `createVerifier: ${msg}`);
  };
  if (!o || typeof o.keys?.resolve !== 'function') bad('keys must be a KeyResolver');
  if (o.issuers !== null && !Array.isArray(o.issuers)) bad('issuers must be an array or null');
  if (o.audience !== null && typeof o.audience !== 'string')
    bad('audience must be a string or null');
  if (!Object.hasOwn(DEFAULT_SCHEMAS, o.typ)) bad(`unknown typ ${String(o.typ)}`);
  const skew = o.clockSkewSec ?? 30;
  if (!Number.isInteger(skew) || skew < 0 || skew > 300) bad('clockSkewSec must be 0..300');
  const life = o.maxLifetimeSec ?? MAX_LIFETIME_SEC;
  if (!Number.isInteger(life) || life < 1) bad('maxLifetimeSec must be a positive integer');
  const size = o.maxTokenBytes ?? 8192;
  if (!Number.isInteger(size) || size < 64) bad('maxTokenBytes must be an integer ≥ 64');
  const cacheSize = o.batchHeadCacheSize ?? 1024;
  if (!Number.isInteger(cacheSize) || cacheSize < 1) bad('batchHeadCacheSize must be ≥ 1');
  for (const a of o.algorithms ?? []) {
    if (!(Algorithms as readonly string[]).includes(a)) bad(`unsupported alg ${String(a)}`);
  }
}

export function createVerifier<Y extends TokenType, T = DefaultClaims<Y>>(
  options: VerifierOptions<Y, T>,
): Verifier<T> {
  checkOptions(options);
  const { keys, typ } = options;
  const schema = (options.claims ?? DEFAULT_SCHEMAS[typ]) as z.ZodType<T>;
  // The default schemas' compiled checks accept valid claims without a zod parse.
  const fastClaims = compiledClaimsCheck(schema);
  const issuers = options.issuers === null ? null : new Set(options.issuers);
  const audience = options.audience;
  const algorithms = new Set<string>(options.algorithms ?? Algorithms);
  const skew = options.clockSkewSec ?? 30;
  const maxLifetime = options.maxLifetimeSec ?? MAX_LIFETIME_SEC;
  const maxBytes = options.maxTokenBytes ?? 8192;
  const clock = options.clock ?? systemClock;
  const mode = options.cryptoMode ?? 'auto';
  // Headers that passed the header checks, by their exact base64url text.
  const headers = new Map<string, VerifiedHeader>();
  // Items of a batch (a JSON text instead of a JWS), for the typs that have one.
  const batchItems = isBatchableType(typ)
    ? createBatchItemOpener({
        heads: createVerifier({
          ...options,
          audience: null,
          typ: BatchTypOf[typ],
          claims: undefined,
        }),
        headTyp: BatchTypOf[typ],
        clock,
        skewSec: skew,
        cacheTtlMs: (maxLifetime + skew) * 1000,
        cacheMax: options.batchHeadCacheSize ?? 1024,
      })
    : undefined;

  function parseHeader(segment: string): VerifiedHeader {
    const unverifiedHeader = decodeJson(Buffer.from(segment, 'base64url'), 'header') as Record<
      string,
      unknown
    >;
    for (const name of Object.keys(unverifiedHeader)) {
      if (!HEADER_MEMBERS.has(name)) {
        fail('UNSUPPORTED_HEADER', `header parameter "${excerpt(name)}" is not supported`);
      }
    }
    const { alg, kid, typ: tokenTyp } = unverifiedHeader;
    if (typeof alg !== 'string' || !algorithms.has(alg)) {
      fail('ALG_NOT_ALLOWED', `alg ${excerpt(alg)} is not allowed`);
    }
    if (tokenTyp !== typ) fail('TYP_MISMATCH', `typ must be "${typ}", got ${excerpt(tokenTyp)}`);
    if (typeof kid !== 'string' || kid.length === 0)
      fail('UNKNOWN_KID', 'kid missing or not a string');
    const header: VerifiedHeader = { alg: alg as Algorithm, kid, typ };
    if (headers.size >= HEADER_CACHE_MAX) headers.clear();
    headers.set(segment, header);
    return header;
  }

  function checkSignature(p: PreparedKey, data: Buffer, sig: Buffer): boolean | Promise<boolean> {
    // 'auto': another verify is in progress (we are under concurrency), so the thread pool
    // wins (crypto leaves the event loop); called one at a time, inline is faster.
    if (mode === 'inline' || (mode === 'auto' && active <= 1)) {
      return cryptoVerify(p.hash, data, p.options, sig);
    }
    return verifyOnThreadPool(p, data, sig);
  }

  /** Steps 1-3 of a compact JWS (not a batch item). */
  function parseToken(token: string): ParsedToken {
    // 2. three non-empty segments of strict, canonical base64url: decoding and re-encoding
    //    must give the same text (no padding, no +/, no whitespace, zero padding bits)
    const d1 = token.indexOf('.');
    const d2 = token.indexOf('.', d1 + 1);
    if (d1 < 1 || d2 < d1 + 2 || d2 === token.length - 1 || token.indexOf('.', d2 + 1) !== -1) {
      fail('MALFORMED', 'not a compact JWS of three non-empty segments');
    }
    const headerSegment = token.slice(0, d1);
    const header = headers.get(headerSegment);
    if (!header && !isCanonical(headerSegment))
      fail('MALFORMED', 'header is not canonical base64url');
    const payloadSegment = token.slice(d1 + 1, d2);
    const sigSegment = token.slice(d2 + 1);
    // Both are decoded anyway, and re-encoding a few hundred bytes is cheaper than a pattern
    // test of their text.
    const payload = Buffer.from(payloadSegment, 'base64url');
    const sig = Buffer.from(sigSegment, 'base64url');
    if (
      payload.toString('base64url') !== payloadSegment ||
      sig.toString('base64url') !== sigSegment
    ) {
      fail('MALFORMED', 'not canonical base64url');
    }
    // 3. header: only alg/kid/typ, alg allowed, typ exact
    return { header: header ?? parseHeader(headerSegment), payload, sig, signedLength: d2 };
  }

  /**
   * Step 4, for a kid not loaded: the latest time the token may have been signed, on our clock
   * (its unverified iat, rounded up, plus the allowed skew). Read only if a source asks.
   */
  function signedAtHint(payload: Buffer): ResolveHint {
    return {
      get signedAtMs() {
        const iat = unverifiedIat(payload);
        return iat === undefined ? undefined : (iat + 1 + skew) * 1000;
      },
    };
  }

  /** Step 4's checks of the resolved key, and step 5's signature length; the prepared key. */
  function keyFor(t: ParsedToken, key: KeyEntry | undefined): PreparedKey {
    if (!key) fail('UNKNOWN_KID', `no trusted key with kid ${excerpt(t.header.kid)}`);
    if (key.alg !== t.header.alg) {
      fail(
        'ALG_NOT_ALLOWED',
        `kid ${excerpt(key.kid)} is pinned to ${key.alg}, token says ${t.header.alg}`,
      );
    }
    const p = prepare(key);
    if (t.sig.length !== p.signatureBytes) {
      fail('BAD_SIGNATURE', `signature must be ${p.signatureBytes} bytes for ${key.alg}`);
    }
    return p;
  }

  /** Steps 6-9 after a good signature. */
  function verified(t: ParsedToken, key: KeyEntry, opts: VerifyOptions | undefined): Verified<T> {
    const claims = claimsOf(t.payload);
    checkClaims(claims, key, opts);
    return { header: t.header, claims, key };
  }

  function checkSize(token: string): void {
    if (typeof token !== 'string') fail('MALFORMED', 'token must be a string');
    if (token.length > maxBytes) fail('TOKEN_TOO_LARGE', `token longer than ${maxBytes} bytes`);
  }

  async function verifyAsync(token: string, opts?: VerifyOptions): Promise<Verified<T>> {
    active++;
    try {
      // 1. size
      checkSize(token);
      if (isBatchItem(token)) {
        if (!batchItems) fail('MALFORMED', `${typ} tokens do not come in batches`);
        const item = await batchItems.open(token, opts);
        const itemClaims = fastClaims?.(item.payload)?.claims ?? parseClaims(item.payload);
        checkClaims(itemClaims as T, item.key, opts);
        const itemHeader: VerifiedHeader = { alg: item.alg, kid: item.kid, typ };
        return { claims: itemClaims as T, key: item.key, header: itemHeader, batch: item.batch };
      }
      const t = parseToken(token);
      // 4. key by kid, and the key's pinned alg
      let key: KeyEntry | undefined;
      try {
        key = await keys.resolve(t.header.kid, signedAtHint(t.payload));
      } catch (cause) {
        // Key loading failed (KMS down, unreadable file): not the token's fault, so not a
        // VerificationError; callers retry later instead of rejecting the token.
        if (isCountersignError(cause)) throw cause;
        throw new CountersignError('KEY_UNAVAILABLE', 'the key resolver failed', { cause });
      }
      // 5. signature
      const p = keyFor(t, key);
      const checked = checkSignature(
        p,
        Buffer.from(token.slice(0, t.signedLength), 'latin1'),
        t.sig,
      );
      if (!(typeof checked === 'boolean' ? checked : await checked)) {
        fail('BAD_SIGNATURE', 'signature does not verify');
      }
      return verified(t, key!, opts);
    } catch (err) {
      throw asVerifyError(err);
    } finally {
      active--;
    }
  }

  // A token whose key is already loaded, checked without a promise hop (signature inline);
  // undefined when it needs the async path (a batch item, a key to load).
  function verifyInline(token: string, opts: VerifyOptions | undefined): Verified<T> | undefined {
    checkSize(token);
    if (isBatchItem(token)) return undefined;
    const t = parseToken(token);
    const key = keys.peek!(t.header.kid);
    if (!key) return undefined;
    const p = keyFor(t, key);
    const data = Buffer.from(token.slice(0, t.signedLength), 'latin1');
    if (!cryptoVerify(p.hash, data, p.options, t.sig)) {
      fail('BAD_SIGNATURE', 'signature does not verify');
    }
    return verified(t, key, opts);
  }

  function verify(token: string, opts?: VerifyOptions): Promise<Verified<T>> {
    // 'inline' (a caller that verifies one token at a time): a token whose key is loaded is
    // checked without a promise hop. 'auto' always takes the async path: an inline check
    // finishes before the next caller's call starts, so calls would never overlap and the
    // thread pool would never be used (measured: the gateway at 64 in flight fell from 0.85
    // to 0.69 of its floor when 'auto' checked inline whenever no overlap was seen).
    if (keys.peek !== undefined && mode === 'inline') {
      try {
        const result = verifyInline(token, opts);
        if (result) return Promise.resolve(result);
      } catch (err) {
        return Promise.reject(asVerifyError(err));
      }
    }
    return verifyAsync(token, opts);
  }

  // Strict JSON and the claims schema. The compiled check of a default schema does both for
  // valid claims (its member count is the duplicate check); anything it does not accept takes
  // the full path, which gives the error.
  function claimsOf(bytes: Buffer): T {
    if (fastClaims !== undefined && isUtf8(bytes)) {
      const text = bytes.toString('utf8');
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        value = undefined;
      }
      const accepted = value === undefined ? undefined : fastClaims(value);
      if (accepted !== undefined && hasMemberCount(text, accepted.members)) {
        return accepted.claims as T;
      }
    }
    return parseClaims(decodeJson(bytes, 'payload'));
  }

  function parseClaims(payload: unknown): T {
    const res = schema.safeParse(payload);
    if (!res.success) {
      const issue = res.error.issues[0];
      const claim = issue ? issue.path.map(String).join('.') : '';
      fail('CLAIMS_INVALID', `claim ${claim || '(root)'}: ${issue?.message ?? 'invalid'}`, claim);
    }
    return res.data;
  }

  // Steps 7-9 on schema-valid claims, of a verified JWS payload or a proven batch item alike.
  function checkClaims(parsed: T, key: KeyEntry, opts: VerifyOptions | undefined): void {
    const claims = parsed as Record<string, unknown>;
    // 7. issuer (and the key's bound issuer), audience
    const iss = claims.iss;
    if (issuers !== null && (typeof iss !== 'string' || !issuers.has(iss))) {
      fail('ISSUER_NOT_TRUSTED', `iss ${excerpt(iss)} is not trusted`, 'iss');
    }
    if (key.issuer !== undefined && iss !== key.issuer) {
      fail('ISSUER_NOT_TRUSTED', `kid ${excerpt(key.kid)} may only sign for ${key.issuer}`, 'iss');
    }
    if (audience !== null) {
      const aud = claims.aud;
      if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) {
        fail('AUDIENCE_MISMATCH', `aud must be ${audience}`, 'aud');
      }
    }
    // 8. time
    const now = (opts?.at ?? clock.now()) / 1000;
    const iat = numericClaim(claims, 'iat');
    const nbf = numericClaim(claims, 'nbf');
    const exp = numericClaim(claims, 'exp');
    if (iat !== undefined && iat > now + skew) fail('NOT_YET_VALID', 'iat is in the future', 'iat');
    if (nbf !== undefined && nbf > now + skew) fail('NOT_YET_VALID', 'not valid yet (nbf)', 'nbf');
    if (exp !== undefined) {
      if (exp <= now - skew) fail('EXPIRED', 'token expired', 'exp');
      if (iat === undefined) fail('CLAIMS_INVALID', 'claim iat: required with exp', 'iat');
      if (exp - iat > maxLifetime) {
        fail('LIFETIME_TOO_LONG', `exp − iat exceeds ${maxLifetime} s`, 'exp');
      }
    }
    // 9. the key was valid when the token was signed (its own iat, else the verification time):
    //    a retired key still verifies what it signed before its retirement (audit, queued
    //    tokens), and nothing it signed after. After the token's own times, so an expired
    //    token reads EXPIRED whichever key signed it.
    const signedAt = iat ?? now;
    if (key.exp !== undefined && signedAt >= key.exp) {
      fail(
        'KEY_RETIRED',
        `kid ${excerpt(key.kid)} was retired at ${isoOf(key.exp)}; this token was signed at ${isoOf(signedAt)}`,
        'iat',
      );
    }
    if (key.nbf !== undefined && signedAt < key.nbf - skew) {
      fail('NOT_YET_VALID', `kid ${excerpt(key.kid)} is valid from ${isoOf(key.nbf)}`, 'iat');
    }
  }

  return { verify };
}
