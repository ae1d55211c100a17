import { describe, expect, it } from 'vitest';
import { createTxnSchema, TransactionRequest } from './txn.ts';
import { fieldIssues } from './validation.ts';

const valid = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.015',
  limitPrice: '64000.10',
  timeInForce: 'GTC',
} as const;

function issuesOf(input: unknown): { path: string; message: string }[] {
  const res = TransactionRequest.safeParse(input);
  if (res.success) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return fieldIssues(res.error, 'txn');
}

describe('TransactionRequest: valid', () => {
  it.each([
    ['the design example', valid],
    ['a sell with clientRef', { ...valid, side: 'sell', clientRef: 'bot-7:order/42' }],
    ['integer quantity', { ...valid, quantity: '3' }],
    ['max precision', { ...valid, quantity: '123456789012.12345678' }],
    ['IOC', { ...valid, timeInForce: 'IOC' }],
    ['FOK', { ...valid, timeInForce: 'FOK' }],
    ['zero before the point', { ...valid, limitPrice: '0.00000001' }],
    ['trailing zeros', { ...valid, limitPrice: '64000.10000000' }],
  ])('accepts %s', (_name, input) => {
    expect(TransactionRequest.parse(input)).toEqual(input);
  });
});

// [name, field, value, expected path, message fragment]
const invalid: [string, string, unknown, string, RegExp][] = [
  ['float quantity', 'quantity', 0.015, 'txn.quantity', /decimal string/],
  ['integer number price', 'limitPrice', 64000, 'txn.limitPrice', /decimal string/],
  ['exponent', 'quantity', '1e3', 'txn.quantity', /plain positive decimal/],
  ['upper exponent', 'quantity', '1E-3', 'txn.quantity', /plain positive decimal/],
  ['negative', 'quantity', '-1', 'txn.quantity', /plain positive decimal/],
  ['leading plus', 'quantity', '+1', 'txn.quantity', /plain positive decimal/],
  ['leading zeros', 'quantity', '01', 'txn.quantity', /plain positive decimal/],
  ['bare point', 'quantity', '.5', 'txn.quantity', /plain positive decimal/],
  ['trailing point', 'quantity', '5.', 'txn.quantity', /plain positive decimal/],
  ['two points', 'quantity', '1.2.3', 'txn.quantity', /plain positive decimal/],
  ['comma', 'limitPrice', '64000,10', 'txn.limitPrice', /plain positive decimal/],
  ['thousands separator', 'limitPrice', '64_000', 'txn.limitPrice', /plain positive decimal/],
  ['spaces', 'quantity', ' 1', 'txn.quantity', /plain positive decimal/],
  ['trailing newline', 'quantity', '1\n', 'txn.quantity', /plain positive decimal/],
  ['arabic-indic digits', 'quantity', '\u0661\u0662', 'txn.quantity', /plain positive decimal/],
  ['fullwidth digits', 'quantity', '\uff11', 'txn.quantity', /plain positive decimal/],
  ['hex', 'quantity', '0x10', 'txn.quantity', /plain positive decimal/],
  ['Infinity', 'quantity', 'Infinity', 'txn.quantity', /plain positive decimal/],
  ['NaN', 'limitPrice', 'NaN', 'txn.limitPrice', /plain positive decimal/],
  ['empty', 'quantity', '', 'txn.quantity', /must not be empty/],
  ['zero', 'quantity', '0', 'txn.quantity', /greater than zero/],
  ['zero with decimals', 'limitPrice', '0.000', 'txn.limitPrice', /greater than zero/],
  [
    'too many fraction digits',
    'quantity',
    '0.123456789',
    'txn.quantity',
    /more than 8 digits after/,
  ],
  [
    'too many integer digits',
    'limitPrice',
    '1234567890123',
    'txn.limitPrice',
    /more than 12 digits before/,
  ],
  ['over-long string', 'quantity', '1'.repeat(200), 'txn.quantity', /longer than/],
  ['null quantity', 'quantity', null, 'txn.quantity', /decimal string/],
  ['boolean price', 'limitPrice', true, 'txn.limitPrice', /decimal string/],
  ['object quantity', 'quantity', { v: '1' }, 'txn.quantity', /decimal string/],
  ['bad side', 'side', 'short', 'txn.side', /"buy" or "sell"/],
  ['side upper case', 'side', 'BUY', 'txn.side', /"buy" or "sell"/],
  ['bad type', 'type', 'transfer', 'txn.type', /"order"/],
  ['lower-case symbol', 'symbol', 'btc-usd', 'txn.symbol', /BTC-USD/],
  ['symbol without dash', 'symbol', 'BTCUSD', 'txn.symbol', /BTC-USD/],
  ['symbol with slash', 'symbol', 'BTC/USD', 'txn.symbol', /BTC-USD/],
  ['over-long symbol', 'symbol', `${'A'.repeat(20)}-USD`, 'txn.symbol', /BTC-USD/],
  ['numeric symbol type', 'symbol', 42, 'txn.symbol', /.+/],
  ['bad timeInForce', 'timeInForce', 'DAY', 'txn.timeInForce', /"GTC", "IOC" or "FOK"/],
  ['clientRef with space', 'clientRef', 'a b', 'txn.clientRef', /printable ASCII/],
  ['clientRef too long', 'clientRef', 'x'.repeat(65), 'txn.clientRef', /1-64/],
  ['clientRef empty', 'clientRef', '', 'txn.clientRef', /1-64/],
  ['clientRef unicode', 'clientRef', 'ordér', 'txn.clientRef', /printable ASCII/],
];

describe('TransactionRequest: invalid fields name their path', () => {
  it.each(invalid)('rejects %s', (_name, field, value, path, message) => {
    const issues = issuesOf({ ...valid, [field]: value });
    expect(
      issues.some((i) => i.path === path && message.test(i.message)),
      JSON.stringify(issues),
    ).toBe(true);
  });

  it.each(['type', 'side', 'symbol', 'quantity', 'limitPrice', 'timeInForce'])(
    'rejects a missing %s',
    (field) => {
      const input: Record<string, unknown> = { ...valid };
      delete input[field];
      expect(issuesOf(input).map((i) => i.path)).toContain(`txn.${field}`);
    },
  );

  it('rejects unknown fields and names them', () => {
    const issues = issuesOf({ ...valid, leverage: '100' });
    expect(issues).toEqual([{ path: 'txn', message: 'unknown field(s): leverage' }]);
  });

  it('rejects __proto__ smuggling as an unknown field', () => {
    const issues = issuesOf(
      JSON.parse(
        `{"type":"order","side":"buy","symbol":"BTC-USD","quantity":"1","limitPrice":"1","timeInForce":"GTC","__proto__":{"x":1}}`,
      ),
    );
    expect(issues[0]?.message).toMatch(/unknown field/);
  });

  it.each([null, 'order', 42, []])('rejects a non-object txn %j', (input) => {
    expect(issuesOf(input)[0]?.path).toBe('txn');
  });

  it('reports every bad field at once', () => {
    const issues = issuesOf({ ...valid, side: 'x', quantity: '1e3', limitPrice: '-2' });
    expect(issues.map((i) => i.path).sort()).toEqual([
      'txn.limitPrice',
      'txn.quantity',
      'txn.side',
    ]);
  });

  it('honours a configured precision', () => {
    const tight = createTxnSchema({
      quantity: { intDigits: 4, fracDigits: 2 },
      price: { intDigits: 6, fracDigits: 2 },
    });
    expect(tight.safeParse({ ...valid, quantity: '0.015' }).success).toBe(false);
    expect(tight.safeParse({ ...valid, quantity: '0.01', limitPrice: '64000.1' }).success).toBe(
      true,
    );
    expect(tight.safeParse({ ...valid, quantity: '12345', limitPrice: '1' }).success).toBe(false);
  });
});
