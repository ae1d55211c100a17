import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { RequestClaims, TransactionRequest } from '@countersign/contracts';
import { createLocalSigner } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import { createRequester } from './requester.ts';
import { fakeQueue } from './testing/fake-queue.ts';

const decimal = fc
  .tuple(
    fc.integer({ min: 0, max: 999_999_999_999 }),
    fc.option(fc.stringMatching(/^[0-9]{0,7}[1-9]$/), { nil: undefined }),
  )
  .map(([int, frac]) => (frac === undefined ? String(int) : `${int}.${frac}`))
  .filter((s) => /[1-9]/.test(s));

const validTxn = fc.record(
  {
    type: fc.constant('order' as const),
    side: fc.constantFrom('buy' as const, 'sell' as const),
    symbol: fc.stringMatching(/^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}$/),
    quantity: decimal,
    limitPrice: decimal,
    timeInForce: fc.constantFrom('GTC' as const, 'IOC' as const, 'FOK' as const),
    clientRef: fc.stringMatching(/^[\x21-\x7e]{1,64}$/),
  },
  { requiredKeys: ['type', 'side', 'symbol', 'quantity', 'limitPrice', 'timeInForce'] },
);
const account = fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/);

let signer: Signer;
beforeAll(async () => {
  signer = await createLocalSigner({
    privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    alg: 'ES256',
  });
});

describe('createRequester (properties)', () => {
  it('every valid request becomes claims that satisfy the wire schema, lifetime exact', async () => {
    await fc.assert(
      fc.asyncProperty(
        validTxn,
        account,
        fc.integer({ min: 1, max: 300 }),
        async (txn, acct, life) => {
          const now = 1_780_000_000_123;
          const r = createRequester({
            signer,
            queue: fakeQueue(),
            issuer: 'iss-1',
            audience: 'aud-1',
            lifetimeSec: life,
            clock: { now: () => now },
          });
          const out = await r.submit(txn, { account: acct });
          const claims = RequestClaims.parse(decodeJwt(out.token));
          expect(claims.sub).toBe(acct);
          expect(claims.txn).toEqual(txn);
          expect(claims.exp - claims.iat).toBe(life);
          expect(claims.iat).toBe(Math.floor(now / 1000));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('anything the contracts schema rejects is never signed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything(), fc.anything(), async (txn, acct) => {
        fc.pre(!TransactionRequest.safeParse(txn).success || typeof acct !== 'string');
        let signed = 0;
        const counting: Signer = { ...signer, sign: (i) => (signed++, signer.sign(i)) };
        const queue = fakeQueue();
        const r = createRequester({
          signer: counting,
          queue,
          issuer: 'i',
          audience: 'a',
          lifetimeSec: 60,
          clock: { now: () => 0 },
        });
        await expect(r.submit(txn, { account: acct })).rejects.toMatchObject({
          code: 'REQUEST_INVALID',
        });
        expect(signed).toBe(0);
        expect(queue.sent).toHaveLength(0);
      }),
      { numRuns: 200 },
    );
  });
});
