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

/** POSTs a JSON body to the requester app with an API key and an Idempotency-Key. */
export function postWithKey(
  app: { request(path: string, init: RequestInit): Response | Promise<Response> },
  request: {
    readonly apiKey: string;
    readonly path: string;
    readonly body: unknown;
    readonly key: string;
  },
): Promise<Response> {
  return Promise.resolve(
    app.request(request.path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${request.apiKey}`,
        'idempotency-key': request.key,
      },
      body: JSON.stringify(request.body),
    }),
  );
}
