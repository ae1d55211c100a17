// The transaction request: what a trading bot asks the gateway to do.
import { z } from 'zod';
import { decimalString, type DecimalPrecision } from './decimal.ts';

export interface TxnPrecision {
  readonly quantity: DecimalPrecision;
  readonly price: DecimalPrecision;
}

export const DEFAULT_TXN_PRECISION: TxnPrecision = {
  quantity: { intDigits: 12, fracDigits: 8 },
  price: { intDigits: 12, fracDigits: 8 },
};

export const Sides = ['buy', 'sell'] as const;
export const TimesInForce = ['GTC', 'IOC', 'FOK'] as const;
export const SYMBOL = /^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}$/;

export function createTxnSchema(precision: TxnPrecision = DEFAULT_TXN_PRECISION) {
  return z.strictObject(
    {
      type: z.literal('order', { error: 'must be "order"' }),
      side: z.enum(Sides, { error: 'must be "buy" or "sell"' }),
      symbol: z
        .string({ error: 'required' })
        .regex(SYMBOL, 'must look like "BTC-USD" (A-Z, 0-9, one dash)'),
      quantity: decimalString(precision.quantity),
      limitPrice: decimalString(precision.price),
      timeInForce: z.enum(TimesInForce, { error: 'must be "GTC", "IOC" or "FOK"' }),
      clientRef: z
        .string()
        .regex(/^[\x21-\x7e]{1,64}$/, 'must be 1-64 printable ASCII characters without spaces')
        .optional(),
    },
    {
      error: (iss) =>
        iss.code === 'unrecognized_keys'
          ? `unknown field(s): ${iss.keys.join(', ')}`
          : 'must be an object',
    },
  );
}

export const TransactionRequest = createTxnSchema();
export type TransactionRequest = z.infer<typeof TransactionRequest>;
