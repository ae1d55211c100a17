// Shared fixtures of the requester's integration tests.

/** A valid order. */
export const SAMPLE_TXN = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.015',
  limitPrice: '64000.10',
  timeInForce: 'GTC',
} as const;
