// Compiled acceptance checks for the default claims schemas (request and receipt claims), built
// once at load: plain typeof/regex/Set tests instead of a zod parse on every verify.
//
// A check only ever ACCEPTS: it returns the claims (a fresh object in the schema's key order,
// as zod's parse gives) when the payload is valid, and `undefined` otherwise. The verifier then
// runs the zod schema to reject with today's exact error (code, claim path, message), so the
// schema stays the single source of the error texts, and a check stricter than its schema costs
// only speed. A check must never accept what its schema rejects: claims-check.test.ts compares
// both on valid and mutated claims.
import {
  DEFAULT_TXN_PRECISION,
  decimalPattern,
  IDENTIFIER,
  JTI,
  Outcomes,
  ReasonCodes,
  ReceiptClaims,
  RequestClaims,
  SHA256_B64U,
  Sides,
  SYMBOL,
  TimesInForce,
  WIRE_VERSION,
} from '@countersign/contracts';

/** A compiled check: the parsed value, or NO when the input does not match. */
type Check = (v: unknown) => unknown;
const NO: unique symbol = Symbol('no');

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
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return NO;
    const input = v as Record<string, unknown>;
    for (const k in input) if (!known.has(k) || !Object.hasOwn(input, k)) return NO;
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      const x = input[f.key];
      if (x === undefined) {
        if (f.optional && !Object.hasOwn(input, f.key)) continue;
        return NO;
      }
      const r = f.check(x);
      if (r === NO) return NO;
      out[f.key] = r;
    }
    return refine && !refine(out) ? NO : out;
  };
}

const identifier = str(new RegExp(IDENTIFIER.source));
const jti = str(new RegExp(JTI.source));
const sha256 = str(new RegExp(SHA256_B64U.source));
const numericDate = int(0, 253402300799);
const decimal = (p: { intDigits: number; fracDigits: number }) =>
  str(new RegExp(decimalPattern(p)), p.intDigits + 1 + p.fracDigits);

const requestClaims = object({
  iss: identifier,
  sub: identifier,
  aud: identifier,
  iat: numericDate,
  nbf: numericDate,
  exp: numericDate,
  jti,
  txn: object({
    type: oneOf(['order']),
    side: oneOf(Sides),
    symbol: str(new RegExp(SYMBOL.source)),
    quantity: decimal(DEFAULT_TXN_PRECISION.quantity),
    limitPrice: decimal(DEFAULT_TXN_PRECISION.price),
    timeInForce: oneOf(TimesInForce),
    'clientRef?': str(/^[\x21-\x7e]{1,64}$/),
  }),
});

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
    stream: str(/^[A-Za-z0-9._:-]{1,64}\/[0-9]{1,4}$/),
    seq: int(1),
    prev: sha256,
  },
  (r) =>
    (r.outcome === 'EXECUTED') === (r.reason === undefined) &&
    (r.verifiedAt === undefined || (r.verifiedAt as number) <= (r.iat as number)),
);

const CHECKS = new Map<unknown, Check>([
  [RequestClaims, requestClaims],
  [ReceiptClaims, receiptClaims],
]);

/**
 * The compiled check of a default claims schema: the claims when `payload` is valid, else
 * undefined (then parse with the schema for the error). Undefined for other schemas.
 */
export function compiledClaimsCheck(schema: unknown): ((payload: unknown) => unknown) | undefined {
  const check = CHECKS.get(schema);
  if (!check) return undefined;
  return (payload) => {
    const r = check(payload);
    return r === NO ? undefined : r;
  };
}
