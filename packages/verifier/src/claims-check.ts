// Compiled acceptance checks for the default claims schemas (request and receipt claims), built
// once at load: plain typeof/regex tests instead of a zod parse on every verify.
//
// A check only ever ACCEPTS: it returns the claims (a fresh object in the schema's key order,
// as zod's parse gives) and how many object members the input has, or `undefined`. The verifier
// then runs the zod schema to reject with today's exact error (code, claim path, message), so
// the schema stays the single source of the error texts. A check must accept exactly what its
// schema accepts, on anything JSON.parse can give: claims-check.test.ts compares both on valid,
// generated and mutated claims. Accepting implies every object in the input was checked for
// unknown members, so none is `__proto__`, and the member count is exact (the strict JSON
// duplicate check uses it instead of walking the value again).
import {
  CountersignError,
  DEFAULT_TXN_PRECISION,
  decimalPattern,
  IDENTIFIER,
  JTI,
  Outcomes,
  ReasonCodes,
  ReceiptClaims,
  RequestClaims,
  SHA256_B64U,
  STREAM,
  Sides,
  SYMBOL,
  TimesInForce,
  WIRE_VERSION,
} from '@countersign/contracts';

/** What a check accepted: the claims as zod's parse gives them, and the input's member count. */
export interface Accepted {
  readonly claims: unknown;
  readonly members: number;
}
export type ClaimsCheck = (payload: unknown) => Accepted | undefined;

// Own copies of the patterns (none is global or sticky, so no lastIndex state is shared).
const IDENT_RE = new RegExp(IDENTIFIER.source);
const JTI_RE = new RegExp(JTI.source);
const SYMBOL_RE = new RegExp(SYMBOL.source);
const CLIENT_REF_RE = /^[\x21-\x7e]{1,64}$/;

const isIdentifier = (v: unknown): v is string => typeof v === 'string' && IDENT_RE.test(v);
const isJti = (v: unknown): v is string => typeof v === 'string' && JTI_RE.test(v);
const isNumericDate = (v: unknown): v is number =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 253402300799;
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function decimalTest(p: { intDigits: number; fracDigits: number }) {
  const re = new RegExp(decimalPattern(p));
  const maxLen = p.intDigits + 1 + p.fracDigits;
  return (v: unknown): v is string => typeof v === 'string' && v.length <= maxLen && re.test(v);
}
const isQuantity = decimalTest(DEFAULT_TXN_PRECISION.quantity);
const isPrice = decimalTest(DEFAULT_TXN_PRECISION.price);

const TXN_MEMBERS = 6; // without the optional clientRef

/** Members of `o`, or -1 when one is not in `known`. */
function countKnown(o: Record<string, unknown>, known: ReadonlySet<string>): number {
  let n = 0;
  for (const k in o) {
    if (!known.has(k)) return -1;
    n++;
  }
  return n;
}
const REQUEST_KEYS = new Set(['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'txn']);
const TXN_KEYS = new Set([
  'type',
  'side',
  'symbol',
  'quantity',
  'limitPrice',
  'timeInForce',
  'clientRef',
]);

// Request claims, by hand: the hot path of every gateway verify. All members are required
// except txn.clientRef, so "only known keys" plus "as many as required" means "exactly these".
function checkRequest(v: unknown): Accepted | undefined {
  if (!isPlainObject(v) || countKnown(v, REQUEST_KEYS) !== REQUEST_KEYS.size) return undefined;
  const { iss, sub, aud, iat, nbf, exp, jti, txn } = v;
  if (
    !isIdentifier(iss) ||
    !isIdentifier(sub) ||
    !isIdentifier(aud) ||
    !isNumericDate(iat) ||
    !isNumericDate(nbf) ||
    !isNumericDate(exp) ||
    !isJti(jti) ||
    !isPlainObject(txn)
  ) {
    return undefined;
  }
  const txnMembers = countKnown(txn, TXN_KEYS);
  const { type, side, symbol, quantity, limitPrice, timeInForce, clientRef } = txn;
  const hasClientRef = clientRef !== undefined;
  if (
    txnMembers !== TXN_MEMBERS + (hasClientRef ? 1 : 0) ||
    type !== 'order' ||
    (side !== 'buy' && side !== 'sell') ||
    typeof symbol !== 'string' ||
    !SYMBOL_RE.test(symbol) ||
    !isQuantity(quantity) ||
    !isPrice(limitPrice) ||
    (timeInForce !== 'GTC' && timeInForce !== 'IOC' && timeInForce !== 'FOK') ||
    (hasClientRef && (typeof clientRef !== 'string' || !CLIENT_REF_RE.test(clientRef)))
  ) {
    return undefined;
  }
  const checkedTxn = hasClientRef
    ? { type, side, symbol, quantity, limitPrice, timeInForce, clientRef }
    : { type, side, symbol, quantity, limitPrice, timeInForce };
  return {
    claims: { iss, sub, aud, iat, nbf, exp, jti, txn: checkedTxn },
    members: REQUEST_KEYS.size + txnMembers,
  };
}
// The enumerations above are spelled out for speed; these keep them tied to the schema.
if (Sides.join() !== 'buy,sell' || TimesInForce.join() !== 'GTC,IOC,FOK') {
  throw new CountersignError(
    'INTERNAL',
    'claims-check: sides or times in force changed; update checkRequest',
  );
}

// Receipt claims, from combinators: a check returns the parsed value or NO; `members` counts
// the object members seen by the current top-level check (sync, so one counter suffices).
type Check = (v: unknown) => unknown;
const NO: unique symbol = Symbol('no');
let members = 0;

const str =
  (re: RegExp, maxLen = Infinity): Check =>
  (v) =>
    typeof v === 'string' && v.length <= maxLen && re.test(v) ? v : NO;
const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (v) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? v : NO;
const oneOf = (values: readonly unknown[]): Check => {
  const set = new Set(values);
  return (v) => (set.has(v) ? v : NO);
};
const nullable =
  (inner: Check): Check =>
  (v) =>
    v === null ? null : inner(v);
const array =
  (item: Check, maxItems: number): Check =>
  (v) => {
    if (!Array.isArray(v) || v.length > maxItems) return NO;
    const out: unknown[] = [];
    for (const x of v) {
      const r = item(x);
      if (r === NO) return NO;
      out.push(r);
    }
    return out;
  };

/** A strict object: no unknown members; keys ending in `?` are optional. */
function object(shape: Record<string, Check>, refine?: (o: Record<string, unknown>) => boolean) {
  const fields = Object.entries(shape).map(([k, check]) => ({
    key: k.endsWith('?') ? k.slice(0, -1) : k,
    optional: k.endsWith('?'),
    check,
  }));
  const known = new Set(fields.map((f) => f.key));
  return (v: unknown): unknown => {
    if (!isPlainObject(v)) return NO;
    const n = countKnown(v, known);
    if (n < 0) return NO;
    members += n;
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      const x = v[f.key];
      if (x === undefined) {
        if (f.optional) continue;
        return NO;
      }
      const r = f.check(x);
      if (r === NO) return NO;
      out[f.key] = r;
    }
    return refine && !refine(out) ? NO : out;
  };
}

const jti = str(JTI_RE);
const identifier = str(IDENT_RE);
const sha256 = str(new RegExp(SHA256_B64U.source));
const numericDate = int(0, 253402300799);
const decimal = (p: { intDigits: number; fracDigits: number }): Check => {
  const test = decimalTest(p);
  return (v) => (test(v) ? v : NO);
};

const fillDecimal = decimal({ intDigits: 12, fracDigits: 8 });
const receiptClaims = object(
  {
    v: oneOf([WIRE_VERSION]),
    iss: identifier,
    iat: numericDate,
    jti,
    req: object({
      jti: nullable(jti),
      iss: nullable(identifier),
      sub: nullable(identifier),
      sha256,
      'kept?': oneOf([false]),
    }),
    messageId: str(/^[\s\S]{1,128}$/),
    outcome: oneOf(Object.values(Outcomes)),
    'reason?': oneOf(Object.values(ReasonCodes)),
    'detail?': str(/^[\s\S]*$/, 256),
    fills: array(object({ quantity: fillDecimal, price: fillDecimal }), 100),
    'policy?': object({
      version: sha256,
      maxNotional: decimal({ intDigits: 20, fracDigits: 16 }),
    }),
    'resolves?': jti,
    'verifiedAt?': numericDate,
    stream: str(new RegExp(STREAM.source)),
    seq: int(1),
    prev: sha256,
  },
  (r) =>
    (r.outcome === 'EXECUTED') === (r.reason === undefined) &&
    (r.verifiedAt === undefined || (r.verifiedAt as number) <= (r.iat as number)),
);

function checkReceipt(v: unknown): Accepted | undefined {
  members = 0;
  const claims = receiptClaims(v);
  return claims === NO ? undefined : { claims, members };
}

const CHECKS = new Map<unknown, ClaimsCheck>([
  [RequestClaims, checkRequest],
  [ReceiptClaims, checkReceipt],
]);

/**
 * The compiled check of a default claims schema: what it accepted when `payload` is valid, else
 * undefined (then parse with the schema for the error). Undefined for other schemas.
 */
export function compiledClaimsCheck(schema: unknown): ClaimsCheck | undefined {
  return CHECKS.get(schema);
}
