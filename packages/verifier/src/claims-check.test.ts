// The compiled claims checks against their zod schemas: whatever a check accepts, the schema
// accepts with the same output (values and key order); valid claims are accepted by both.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReceiptClaims, RequestClaims } from '@countersign/contracts';
import { compiledClaimsCheck } from './claims-check.ts';
import { NOW, receiptClaims, requestClaims } from './testing/fixtures.ts';

const receipt = (overrides: Record<string, unknown> = {}) =>
  receiptClaims({ policy: { version: 'D'.repeat(43), maxNotional: '1000' }, ...overrides });

// Values that break each kind of field somewhere: types, bounds, patterns, nesting.
const ODD: unknown[] = [
  null,
  undefined,
  0,
  -1,
  1.5,
  2 ** 53,
  253402300800,
  '',
  'x',
  ' ',
  'A'.repeat(22),
  'A'.repeat(43),
  'A'.repeat(65),
  '0',
  '01',
  '0.000000001',
  '1e3',
  'BTC-USD',
  'buy',
  'order',
  'GTC',
  'EXECUTED',
  'REJECTED',
  'REPLAYED',
  false,
  true,
  [],
  [{}],
  {},
  { quantity: '1', price: '1' },
  'gw/1',
  'é',
  '\ud800',
];

const PATHS: Record<string, readonly string[][]> = {
  request: [
    ['iss'],
    ['sub'],
    ['aud'],
    ['iat'],
    ['nbf'],
    ['exp'],
    ['jti'],
    ['txn'],
    ['extra'],
    ['txn', 'type'],
    ['txn', 'side'],
    ['txn', 'symbol'],
    ['txn', 'quantity'],
    ['txn', 'limitPrice'],
    ['txn', 'timeInForce'],
    ['txn', 'clientRef'],
    ['txn', 'extra'],
  ],
  receipt: [
    ['v'],
    ['iss'],
    ['iat'],
    ['jti'],
    ['req'],
    ['req', 'jti'],
    ['req', 'iss'],
    ['req', 'sha256'],
    ['req', 'kept'],
    ['req', 'extra'],
    ['messageId'],
    ['outcome'],
    ['reason'],
    ['detail'],
    ['fills'],
    ['policy'],
    ['policy', 'maxNotional'],
    ['resolves'],
    ['verifiedAt'],
    ['stream'],
    ['seq'],
    ['prev'],
    ['extra'],
  ],
};

function mutate(base: Record<string, unknown>, path: readonly string[], value: unknown) {
  const copy = structuredClone(base);
  let at: Record<string, unknown> = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

const cases = [
  { name: 'request', schema: RequestClaims, base: () => requestClaims() },
  { name: 'receipt', schema: ReceiptClaims, base: () => receipt() },
] as const;

describe.each(cases)('compiled $name claims check', ({ name, schema, base }) => {
  const check = compiledClaimsCheck(schema)!;

  it('accepts valid claims with the output of the schema, key order included', () => {
    const valid = [base()];
    if (name === 'receipt') {
      valid.push(receipt({ outcome: 'REJECTED', reason: 'REPLAYED', fills: [], detail: 'x' }));
      valid.push(receipt({ verifiedAt: NOW - 1, resolves: 'EEEEEEEEEEEEEEEEEEEEEE' }));
    } else valid.push(requestClaims({ txn: { ...base().txn, clientRef: 'r-1' } }));
    for (const v of valid) {
      const fast = check(JSON.parse(JSON.stringify(v)));
      expect(fast).toBeDefined();
      const slow = schema.parse(v);
      expect(JSON.stringify(fast)).toBe(JSON.stringify(slow));
    }
  });

  it('never accepts what the schema rejects (every field, odd values)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PATHS[name]!),
        fc.constantFrom(...ODD),
        fc.option(fc.tuple(fc.constantFrom(...PATHS[name]!), fc.constantFrom(...ODD))),
        (path, value, second) => {
          let input = mutate(base(), path, value);
          if (second) {
            try {
              input = mutate(input, second[0], second[1]);
            } catch {
              return; // the first mutation removed the second one's parent
            }
          }
          const slow = schema.safeParse(input);
          const fast = check(input);
          if (fast !== undefined) {
            expect(slow.success).toBe(true);
            expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.data));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('rejects what the schema rejects for each field alone', () => {
    for (const path of PATHS[name]!) {
      for (const value of ODD) {
        const input = mutate(base(), path, value);
        if (!schema.safeParse(input).success) expect(check(input)).toBeUndefined();
      }
    }
  });
});

it('has no compiled check for other schemas', () => {
  expect(compiledClaimsCheck(RequestClaims.extend({}))).toBeUndefined();
});
