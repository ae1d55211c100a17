import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RequesterPolicy } from '@countersign/contracts';
import { canonicalJson, createAuthorizer, policyVersion, SlidingWindowLimiter } from './policy.ts';
import { fakeClock } from './testing/index.ts';

const policy = RequesterPolicy.parse({
  id: 'req-1',
  accounts: ['a1'],
  symbols: ['BTC-USD'],
  maxNotional: '1000.5',
  maxOrdersPerMinute: 3,
});
const txn = (quantity: string, limitPrice: string) =>
  ({
    type: 'order',
    side: 'buy',
    symbol: 'BTC-USD',
    quantity,
    limitPrice,
    timeInForce: 'GTC',
  }) as const;

describe('policy version', () => {
  it('is canonical: key order does not matter, any value change does', () => {
    const reordered = RequesterPolicy.parse({
      maxOrdersPerMinute: 3,
      maxNotional: '1000.5',
      symbols: ['BTC-USD'],
      accounts: ['a1'],
      id: 'req-1',
    });
    expect(policyVersion(reordered)).toBe(policyVersion(policy));
    expect(policyVersion({ ...policy, maxNotional: '1000.50001' })).not.toBe(policyVersion(policy));
    expect(policyVersion(policy)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: null }] })).toBe('{"a":[{"c":null,"d":2}],"b":1}');
  });

  it('canonicalJson is invariant under key permutation (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string(), fc.boolean())),
        (obj) => {
          const reversed = Object.fromEntries(Object.entries(obj).reverse());
          expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
          expect(JSON.parse(canonicalJson(obj))).toEqual(obj);
        },
      ),
    );
  });
});

describe('authorizer', () => {
  it('compares notional exactly (no float rounding)', () => {
    const auth = createAuthorizer({ policies: [policy], clock: fakeClock() });
    // 0.1 × 10005 = 1000.5 exactly: allowed; a float would give 1000.5000000000001.
    expect(auth.authorize({ iss: 'req-1', sub: 'a1', txn: txn('0.1', '10005') })).toMatchObject({
      ok: true,
    });
    expect(
      auth.authorize({ iss: 'req-1', sub: 'a1', txn: txn('0.10000001', '10005') }),
    ).toMatchObject({
      ok: false,
      reason: 'NOTIONAL_TOO_HIGH',
    });
  });

  it('a refused order does not consume the rate budget', () => {
    const auth = createAuthorizer({ policies: [policy], clock: fakeClock() });
    for (let i = 0; i < 5; i += 1)
      auth.authorize({ iss: 'req-1', sub: 'a1', txn: txn('1', '100000') });
    for (let i = 0; i < 3; i += 1) {
      expect(auth.authorize({ iss: 'req-1', sub: 'a1', txn: txn('1', '1') }).ok).toBe(true);
    }
    expect(auth.authorize({ iss: 'req-1', sub: 'a1', txn: txn('1', '1') })).toMatchObject({
      reason: 'RATE_LIMITED',
    });
  });

  it('stamp() describes the policy without counting', () => {
    const auth = createAuthorizer({ policies: [policy], clock: fakeClock() });
    expect(auth.stamp('req-1')).toEqual({ version: policyVersion(policy), maxNotional: '1000.5' });
    expect(auth.stamp('nobody')).toBeUndefined();
  });
});

describe('SlidingWindowLimiter', () => {
  it('allows `limit` hits in any 60 s window', () => {
    const clock = fakeClock(0);
    const l = new SlidingWindowLimiter(clock);
    expect([l.tryAcquire('k', 2), l.tryAcquire('k', 2), l.tryAcquire('k', 2)]).toEqual([
      true,
      true,
      false,
    ]);
    clock.advance(30_000);
    expect(l.tryAcquire('k', 2)).toBe(false);
    clock.advance(30_001);
    expect(l.tryAcquire('k', 2)).toBe(true);
    expect(l.tryAcquire('other', 2)).toBe(true);
  });
});
