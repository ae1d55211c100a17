// The compiled claims checks against their zod schemas, on anything JSON.parse can give: both
// accept exactly the same inputs (generated valid claims, and those with one or two faults:
// unknown or `__proto__` members, wrong types, boundary numbers, bad decimals, missing fields),
// with the same output (values and key order) and the input's exact member count. Then the
// verifier with its compiled check against the same verifier on the plain zod schema: the same
// signed payload TEXT (also with duplicate members) gives the same claims or the same error.
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { z } from 'zod';
import {
  DEFAULT_TXN_PRECISION,
  decimalPattern,
  Outcomes,
  ReasonCodes,
  ReceiptClaims,
  RequestClaims,
} from '@countersign/contracts';
import { compiledClaimsCheck } from './claims-check.ts';
import { createVerifier } from './verifier.ts';
import { staticKeys } from './key-resolvers.ts';
import { toJwks } from '@countersign/signing';
import { clock, fixture, NOW, signRaw, type Fixture } from './testing/fixtures.ts';

type Json = Record<string, unknown>;

// Valid claims. Times stay near NOW so that the verifier-level test gets past step 8 too.
const ident = fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/);
const jti = fc.stringMatching(/^[A-Za-z0-9_-]{22}$/);
const sha = fc.stringMatching(/^[A-Za-z0-9_-]{43}$/);
const time = fc.integer({ min: NOW - 60, max: NOW });
const dec = (p: { intDigits: number; fracDigits: number }) =>
  fc.stringMatching(new RegExp(decimalPattern(p)));

const validRequest: fc.Arbitrary<Json> = fc
  .record({
    iss: ident,
    sub: ident,
    aud: ident,
    iat: time,
    jti,
    txn: fc.record(
      {
        type: fc.constant('order'),
        side: fc.constantFrom('buy', 'sell'),
        symbol: fc.stringMatching(/^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}$/),
        quantity: dec(DEFAULT_TXN_PRECISION.quantity),
        limitPrice: dec(DEFAULT_TXN_PRECISION.price),
        timeInForce: fc.constantFrom('GTC', 'IOC', 'FOK'),
        clientRef: fc.stringMatching(/^[\x21-\x7e]{1,64}$/),
      },
      { requiredKeys: ['type', 'side', 'symbol', 'quantity', 'limitPrice', 'timeInForce'] },
    ),
  })
  .map(({ iss, sub, aud, iat, jti, txn }) => ({
    iss,
    sub,
    aud,
    iat,
    nbf: iat,
    exp: iat + 60,
    jti,
    txn,
  }));

const fill = fc.record({
  quantity: dec({ intDigits: 12, fracDigits: 8 }),
  price: dec({ intDigits: 12, fracDigits: 8 }),
});
const validReceipt: fc.Arbitrary<Json> = fc
  .record(
    {
      v: fc.constant(1),
      iss: ident,
      iat: time,
      jti,
      req: fc.record(
        {
          jti: fc.option(jti),
          iss: fc.option(ident),
          sub: fc.option(ident),
          sha256: sha,
          kept: fc.constant(false),
        },
        { requiredKeys: ['jti', 'iss', 'sub', 'sha256'] },
      ),
      messageId: fc.string({ minLength: 1, maxLength: 128 }),
      outcome: fc.constantFrom(...Object.values(Outcomes)),
      reason: fc.constantFrom(...Object.values(ReasonCodes)),
      detail: fc.string({ maxLength: 256 }),
      fills: fc.array(fill, { maxLength: 3 }),
      policy: fc.record({ version: sha, maxNotional: dec({ intDigits: 20, fracDigits: 16 }) }),
      resolves: jti,
      verifiedAt: fc.integer({ min: 0, max: NOW - 60 }),
      stream: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}\/[0-9]{1,4}$/),
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      prev: sha,
    },
    {
      requiredKeys: [
        'v',
        'iss',
        'iat',
        'jti',
        'req',
        'messageId',
        'outcome',
        'fills',
        'stream',
        'seq',
        'prev',
      ],
    },
  )
  .map((r) => {
    // A reason exactly when the outcome is not EXECUTED (the schema's refinement).
    const { reason, ...rest } = r as Json;
    return rest.outcome === 'EXECUTED' ? rest : { ...rest, reason: reason ?? 'REPLAYED' };
  });

// Faulty values: types, bounds, patterns, nesting.
const ODD_VALUES: readonly unknown[] = [
  null,
  0,
  -0,
  -1,
  1,
  1.5,
  2 ** 53 - 1,
  2 ** 53,
  1e21,
  253402300799,
  253402300800,
  '',
  ' ',
  'x',
  'A'.repeat(22),
  'A'.repeat(21),
  'A'.repeat(23),
  'A'.repeat(43),
  'A'.repeat(64),
  'A'.repeat(65),
  'A'.repeat(129),
  'A'.repeat(257),
  'A+AAAAAAAAAAAAAAAAAAAA',
  'gw/1',
  'gw-1/12345',
  'BTC-USD',
  'btc-usd',
  'BTC_USD',
  'buy',
  'sell',
  'BUY',
  'order',
  'GTC',
  'EXECUTED',
  'REJECTED',
  'REPLAYED',
  'é',
  '\ud800',
  'a b',
  false,
  true,
  [],
  [{}],
  {},
  { quantity: '1', price: '1' },
  { quantity: '1', price: '1', x: 1 },
  // decimals: valid, too long, zero, leading zeros, signs, exponents, spaces, odd digits
  '1',
  '0.1',
  '0',
  '0.0',
  '00.1',
  '01',
  '1.',
  '.5',
  '+1',
  '-1',
  '1e5',
  ' 1',
  '1 ',
  '1,5',
  '١',
  '0.00000001',
  '0.000000001',
  '999999999999',
  '1000000000000',
  '999999999999.99999999',
  '1.123456789',
  '99999999999999999999.9999999999999999',
];
const ODD = fc.oneof(
  fc.constantFrom(...ODD_VALUES),
  fc.integer({ min: -10, max: 253402300810 }),
  fc.double(),
  fc.jsonValue({ maxDepth: 2 }),
);

const KEY = fc.oneof(
  fc.constantFrom('extra', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'),
  fc.string({ maxLength: 8 }),
);

const PATHS: Record<'request' | 'receipt', readonly (readonly string[])[]> = {
  request: [
    ['iss'],
    ['sub'],
    ['aud'],
    ['iat'],
    ['nbf'],
    ['exp'],
    ['jti'],
    ['txn'],
    ['txn', 'type'],
    ['txn', 'side'],
    ['txn', 'symbol'],
    ['txn', 'quantity'],
    ['txn', 'limitPrice'],
    ['txn', 'timeInForce'],
    ['txn', 'clientRef'],
  ],
  receipt: [
    ['v'],
    ['iss'],
    ['iat'],
    ['jti'],
    ['req'],
    ['req', 'jti'],
    ['req', 'iss'],
    ['req', 'sub'],
    ['req', 'sha256'],
    ['req', 'kept'],
    ['messageId'],
    ['outcome'],
    ['reason'],
    ['detail'],
    ['fills'],
    ['fills', '0'],
    ['fills', '0', 'quantity'],
    ['fills', '0', 'price'],
    ['policy'],
    ['policy', 'version'],
    ['policy', 'maxNotional'],
    ['resolves'],
    ['verifiedAt'],
    ['stream'],
    ['seq'],
    ['prev'],
  ],
};

type Fault =
  | { readonly kind: 'set'; readonly path: readonly string[]; readonly value: unknown }
  | { readonly kind: 'delete'; readonly path: readonly string[] }
  | { readonly kind: 'add'; readonly path: readonly string[]; readonly key: string };

const fault = (name: 'request' | 'receipt'): fc.Arbitrary<Fault> => {
  const path = fc.constantFrom(...PATHS[name]);
  const parent = fc.constantFrom<readonly string[]>([], ...PATHS[name]);
  return fc.oneof(
    fc.record({ kind: fc.constant('set' as const), path, value: ODD }),
    fc.record({ kind: fc.constant('delete' as const), path }),
    fc.record({ kind: fc.constant('add' as const), path: parent, key: KEY }),
  );
};

/** Applies faults through JSON text, so the result is what JSON.parse gives (own `__proto__`). */
function withFaults(base: Json, faults: readonly Fault[]): string {
  const copy: Json = structuredClone(base);
  const adds: { at: Json; key: string }[] = [];
  for (const f of faults) {
    let at: unknown = copy;
    const steps = f.kind === 'add' ? f.path : f.path.slice(0, -1);
    for (const k of steps) at = typeof at === 'object' && at !== null ? (at as Json)[k] : undefined;
    if (typeof at !== 'object' || at === null) continue; // a former fault removed the parent
    const o = at as Json;
    if (f.kind === 'add') adds.push({ at: o, key: f.key });
    else if (f.kind === 'delete') delete o[f.path[f.path.length - 1]!];
    else o[f.path[f.path.length - 1]!] = f.value;
  }
  // An added member goes last in its object: a marker key, renamed in the text.
  adds.forEach(({ at }, i) => {
    if (!Array.isArray(at)) at[`\u0000add${i}`] = i;
  });
  let text = JSON.stringify(copy);
  adds.forEach(({ key }, i) => {
    text = text.replace(`"\\u0000add${i}":${i}`, () => `${JSON.stringify(key)}:${i}`);
  });
  return text;
}

/** Object members in a JSON.parse result. */
function members(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + members(x), 0);
  return Object.keys(v).reduce((n, k) => n + 1 + members((v as Json)[k]), 0);
}

const cases = [
  { name: 'request', schema: RequestClaims, valid: validRequest },
  { name: 'receipt', schema: ReceiptClaims, valid: validReceipt },
] as const;

describe.each(cases)('compiled $name claims check', ({ name, schema, valid }) => {
  const check = compiledClaimsCheck(schema)!;

  function agree(input: unknown) {
    const slow = schema.safeParse(input);
    const fast = check(input);
    expect(fast !== undefined, JSON.stringify(slow.error?.issues[0] ?? input)).toBe(slow.success);
    if (fast && slow.success) {
      expect(JSON.stringify(fast.claims)).toBe(JSON.stringify(slow.data));
      expect(fast.members).toBe(members(input));
    }
  }

  it('accepts what the schema accepts, with its output and the exact member count', () => {
    fc.assert(
      fc.property(valid, (claims) => {
        expect(schema.safeParse(claims).success).toBe(true);
        agree(JSON.parse(JSON.stringify(claims)));
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts exactly what the schema accepts, with one or two faults', () => {
    fc.assert(
      fc.property(valid, fc.array(fault(name), { minLength: 1, maxLength: 2 }), (claims, fs) => {
        agree(JSON.parse(withFaults(claims, fs)));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees on every field with each odd value, deleted, or with an extra member', () => {
    const bases = fc.sample(valid, { seed: 17, numRuns: 3 });
    for (const base of bases) {
      for (const path of PATHS[name]) {
        for (const value of ODD_VALUES) {
          agree(JSON.parse(withFaults(base, [{ kind: 'set', path, value }])));
        }
        agree(JSON.parse(withFaults(base, [{ kind: 'delete', path }])));
        agree(JSON.parse(withFaults(base, [{ kind: 'add', path, key: 'extra' }])));
      }
    }
  });

  it('rejects non-objects and own __proto__ members like the schema', () => {
    for (const text of ['null', '[]', '1', '"x"', 'true']) agree(JSON.parse(text));
    fc.assert(
      fc.property(valid, fc.jsonValue({ maxDepth: 1 }), (claims, v) => {
        const text = JSON.stringify(claims);
        const at = text.indexOf('{', 1);
        const input = JSON.parse(`{"__proto__":${JSON.stringify(v)},${text.slice(1)}`);
        agree(input);
        expect(check(input)).toBeUndefined();
        if (at > 0)
          agree(JSON.parse(`${text.slice(0, at + 1)}"__proto__":1,${text.slice(at + 1)}`));
      }),
      { numRuns: 300 },
    );
  });
});

it('has no compiled check for other schemas', () => {
  expect(compiledClaimsCheck(RequestClaims.extend({}))).toBeUndefined();
});

// The verifier's fused path (strict JSON + compiled check) against its zod-only path: a schema
// the compiler does not know (z.lazy of the same schema) gives the same errors, by construction
// of zod, and no compiled check.
describe('verifier: compiled path and zod path agree on signed payloads', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture('ES256');
  });

  const verifiers = (typ: 'txn+jwt' | 'txn-receipt+jwt', schema: z.ZodType<unknown>) => {
    const base = {
      keys: staticKeys(toJwks([f.signer])),
      issuers: null,
      audience: null,
      typ,
      clock,
    } as const;
    return [createVerifier(base), createVerifier({ ...base, claims: z.lazy(() => schema) })];
  };

  const outcome = (p: Promise<{ claims: unknown }>) =>
    p.then(
      (v) => ({ ok: JSON.stringify(v.claims) }),
      (e: { code?: string; message?: string; claim?: string }) => ({
        code: e.code,
        message: e.message,
        claim: e.claim,
      }),
    );

  it.each([
    ['txn+jwt', RequestClaims, validRequest, 'request'],
    ['txn-receipt+jwt', ReceiptClaims, validReceipt, 'receipt'],
  ] as const)('%s', async (typ, schema, valid, name) => {
    const [fast, slow] = verifiers(typ, schema);
    const hdr = JSON.stringify({ alg: 'ES256', kid: f.signer.kid, typ });
    await fc.assert(
      fc.asyncProperty(
        valid,
        fc.array(fault(name), { maxLength: 2 }),
        fc.constantFrom('as is', 'duplicate', 'proto'),
        async (claims, fs, twist) => {
          let text = withFaults(claims, fs);
          if (twist === 'duplicate') text = `{"jti":"x",${text.slice(1)}`;
          if (twist === 'proto') text = `{"__proto__":{},${text.slice(1)}`;
          const token = signRaw(f, 'ES256', hdr, text);
          expect(await outcome(fast!.verify(token))).toEqual(await outcome(slow!.verify(token)));
        },
      ),
      { numRuns: 300 },
    );
  });
});
