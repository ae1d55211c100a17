// The demo workload: deterministic orders across accounts and symbols, so two runs with the
// same seed submit the same thing and the expected outcome of each order is known up front.
import type { TransactionRequest } from '@countersign/contracts';

export interface DemoOrder {
  readonly account: string;
  readonly txn: TransactionRequest;
}

export const DEMO_ACCOUNTS = [
  'acct-alpha',
  'acct-bravo',
  'acct-charlie',
  'acct-delta',
  'acct-echo',
] as const;
export const DEMO_SYMBOLS = {
  'BTC-USD': { price: 64000, step: 0.001 },
  'ETH-USD': { price: 3200, step: 0.01 },
  'SOL-USD': { price: 150, step: 0.1 },
} as const;
/** Demo policy: every normal order stays far below this; the over-limit bad apple does not. */
export const DEMO_MAX_NOTIONAL = '100000';

/** mulberry32: tiny, seedable, good enough to spread a demo workload. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function decimal(value: number, fracDigits: number): string {
  return value.toFixed(fracDigits).replace(/\.?0+$/, '');
}

/** The workload one order at a time: a soak of millions never holds it all (~300 B an order). */
export function* demoOrderStream(count: number, seed = 7): Generator<DemoOrder> {
  const rnd = prng(seed);
  const symbols = Object.entries(DEMO_SYMBOLS);
  for (let i = 0; i < count; i++) {
    const [symbol, spec] = symbols[Math.floor(rnd() * symbols.length)]!;
    const account = DEMO_ACCOUNTS[Math.floor(rnd() * DEMO_ACCOUNTS.length)]!;
    // Notional stays under ~1% of the limit: quantity 1..10 steps.
    const quantity = decimal(spec.step * (1 + Math.floor(rnd() * 10)), 4);
    const limitPrice = decimal(spec.price * (0.98 + rnd() * 0.04), 2);
    yield {
      account,
      txn: {
        type: 'order',
        side: rnd() < 0.5 ? 'buy' : 'sell',
        symbol,
        quantity,
        limitPrice,
        timeInForce: 'GTC',
        clientRef: `demo-${seed}-${i}`,
      },
    };
  }
}

export function demoOrders(count: number, seed = 7): DemoOrder[] {
  return [...demoOrderStream(count, seed)];
}
