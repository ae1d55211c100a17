// GET /v1/transactions/{jti} and the method rules of the HTTP app, in process (app.request).
import { beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { decimalPattern, DEFAULT_TXN_PRECISION, newJti, systemClock } from '@countersign/contracts';
import { staticKeys } from '@countersign/verifier';
import { generateApiKey } from './api-keys.ts';
import { fakeQueue } from './testing/fake-queue.ts';
import { newLocalSigner, SAMPLE_TXN } from './testing/fixtures.ts';
import { createRequesterApp } from './http-app.ts';
import { createMemoryIdempotencyStore } from './idempotency-store.ts';
import { createReceiptIntake, createReceiptVerifier } from './receipt-intake.ts';
import { createReceiptSignals } from './receipt-signals.ts';
import { createRequester } from './requester.ts';
import { gatewayKit, type GatewayKit } from './testing/receipts.ts';
import { createTransactionStatus } from './transaction-status.ts';
import { createMemoryTransactionStore } from './transaction-store.ts';

const bot = generateApiKey('bot-a', ['acct-1']);
const other = generateApiKey('bot-b', ['acct-9']);
let gateway: GatewayKit;
let app: ReturnType<typeof createRequesterApp>;
let intake: ReturnType<typeof createReceiptIntake>;

beforeAll(async () => {
  gateway = await gatewayKit('gw');
  const store = createMemoryTransactionStore();
  const logger = pino({ level: 'silent' });
  const verifier = createReceiptVerifier({
    keys: staticKeys(gateway.jwks, { issuer: 'gw' }),
    gatewayId: 'gw',
  });
  const signals = createReceiptSignals();
  intake = createReceiptIntake({ issuer: 'bot', verifier, store, signals, logger });
  app = createRequesterApp({
    requester: createRequester({
      signer: await newLocalSigner(),
      queue: fakeQueue(),
      issuer: 'bot',
      audience: 'gw',
      lifetimeSec: 60,
      clock: systemClock,
      remember: (orders) => store.remember(orders),
    }),
    apiKeys: [bot.entry, other.entry],
    idempotency: createMemoryIdempotencyStore({ clock: systemClock }),
    transactions: createTransactionStatus({
      issuer: 'bot',
      store,
      verifier,
      signals,
      clock: systemClock,
      logger,
    }),
    logger,
    maxBodyBytes: 65_536,
  });
});

const auth = (key = bot.key) => ({ authorization: `Bearer ${key}` });

async function submit(): Promise<string> {
  const res = await app.request('/v1/transactions', {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: JSON.stringify({ account: 'acct-1', txn: SAMPLE_TXN }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { jti: string }).jti;
}

describe('GET /v1/transactions/{jti}', () => {
  it('is queued right after the 202, then receipted with the verified receipt', async () => {
    const jti = await submit();
    const queued = await app.request(`/v1/transactions/${jti}`, { headers: auth() });
    expect(queued.status).toBe(200);
    expect(await queued.json()).toEqual({ jti, status: 'queued' });

    const token = await gateway.receipt({ iss: 'bot', jti, account: 'acct-1' });
    const waiting = app.request(`/v1/transactions/${jti}?wait=20`, { headers: auth() });
    await new Promise((r) => setTimeout(r, 5));
    await intake.ingest([gateway.event(token)]);
    const done = await waiting;
    expect(done.status).toBe(200);
    expect(await done.json()).toEqual({
      jti,
      status: 'receipted',
      outcome: 'EXECUTED',
      receipt: token,
    });
  });

  it("answers another account's order exactly like an unknown jti (404, same body)", async () => {
    const jti = await submit();
    const bodyOf = async (res: Response) => {
      const { requestId, ...rest } = (await res.json()) as Record<string, unknown>;
      expect(requestId).toEqual(expect.any(String));
      return rest;
    };
    const theirs = await app.request(`/v1/transactions/${jti}?wait=20`, {
      headers: auth(other.key),
    });
    const unknown = await app.request(`/v1/transactions/${newJti()}?wait=20`, {
      headers: auth(other.key),
    });
    expect(theirs.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect([...theirs.headers.keys()].sort()).toEqual([...unknown.headers.keys()].sort());
    const body = await bodyOf(theirs);
    expect(body).toEqual(await bodyOf(unknown));
    expect(body).toMatchObject({ code: 'NOT_FOUND', detail: 'no such transaction' });
  });

  it('needs an API key, a well-formed jti and wait from 0 to 20 (whole seconds)', async () => {
    const jti = await submit();
    expect((await app.request(`/v1/transactions/${jti}`)).status).toBe(401);
    for (const bad of ['21', '-1', '1.5', 'abc', '', '05x', '+3', ' 3']) {
      const res = await app.request(`/v1/transactions/${jti}?wait=${encodeURIComponent(bad)}`, {
        headers: auth(),
      });
      expect(res.status, `wait=${bad}`).toBe(422);
      expect(await res.json()).toMatchObject({ errors: [{ path: 'query wait' }] });
    }
    for (const ok of ['0', '9', '20']) {
      // Receipted already? No: queued; wait=0 answers at once, the others wait (short here).
      if (ok !== '0') continue;
      expect(
        (await app.request(`/v1/transactions/${jti}?wait=${ok}`, { headers: auth() })).status,
      ).toBe(200);
    }
    const malformed = await app.request('/v1/transactions/not-a-jti', { headers: auth() });
    expect(malformed.status).toBe(422);
    expect(await malformed.json()).toMatchObject({ errors: [{ path: 'path jti' }] });
  });
});

describe('methods', () => {
  it.each([
    ['GET', '/v1/transactions', 'POST'],
    ['PATCH', '/v1/transactions', 'POST'],
    ['PUT', '/v1/transactions:batch', 'POST'],
    ['OPTIONS', '/v1/transactions:batch', 'POST'],
    ['DELETE', `/v1/transactions/${'A'.repeat(22)}`, 'GET, HEAD'],
    ['POST', `/v1/transactions/${'A'.repeat(22)}`, 'GET, HEAD'],
    ['DELETE', '/healthz', 'GET, HEAD'],
    ['POST', '/openapi.json', 'GET, HEAD'],
  ])(
    '%s %s answers 405 with Allow: %s (before the API key is looked at)',
    async (method, path, allow) => {
      const res = await app.request(path, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED' });
    },
  );

  it('an unknown path is 404; HEAD works where GET does', async () => {
    // (TRACE is answered the same way; the web Request cannot make one: see the HTTP tests.)
    expect((await app.request('/nothing', { method: 'DELETE' })).status).toBe(404);
    expect((await app.request('/healthz', { method: 'HEAD' })).status).toBe(200);
  });
});

describe('the OpenAPI document states the constraints the server enforces', () => {
  it('decimal patterns and lengths, the wait bounds, the status route and its errors', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { parameters?: unknown[]; responses: object }>>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    const txn = (
      doc.components.schemas.SubmitRequest!.properties.txn as {
        properties: Record<string, object>;
      }
    ).properties;
    for (const field of ['quantity', 'limitPrice']) {
      expect(txn[field]).toMatchObject({
        type: 'string',
        pattern: decimalPattern(DEFAULT_TXN_PRECISION.quantity),
        minLength: 1,
        maxLength: 21,
      });
    }
    const get = doc.paths['/v1/transactions/{jti}']!.get!;
    expect(get.parameters).toContainEqual(
      expect.objectContaining({
        name: 'wait',
        in: 'query',
        schema: expect.objectContaining({ type: 'integer', minimum: 0, maximum: 20 }),
      }),
    );
    expect(Object.keys(get.responses).sort()).toEqual(['200', '401', '404', '422', '500', '503']);
    expect(Object.keys(doc.paths['/v1/transactions']!.post!.responses).sort()).toEqual([
      '202',
      '401',
      '403',
      '409',
      '413',
      '415',
      '422',
      '500',
      '503',
    ]);
  });
});
