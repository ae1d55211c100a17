// What happened to an order, on the embedded runtime: a live requester (HTTP, its own cursor on
// the SQLite bus) and a gateway worker on one data directory. The order's status is known from
// the 202 on, the long poll answers as soon as the receipt is in, another API key cannot tell the
// order exists, forged receipts on the bus are never served, and every method a path does not
// declare (TRACE included) answers 405 with Allow.
import { generateKeyPairSync } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { embeddedPaths } from '@countersign/contracts';
import { createLocalSigner, readJwksFile } from '@countersign/signing';
import { createSqliteEventBus } from '@countersign/transport';
import { receiptCursorOf } from '@countersign/requester';
import {
  gatewayKit,
  resignedUnderSameKid,
  tamperPayload,
  type GatewayKit,
} from '@countersign/requester/testing';
import {
  EMBEDDED_GATEWAY_ID,
  EMBEDDED_REQUESTER_ID,
  startEmbeddedRequester,
  type EmbeddedRequester,
} from './support/embedded-requester.ts';
import { SAMPLE_TXN as txn } from './support/requester-fixtures.ts';
import { until } from './support/receipts.ts';

let live: EmbeddedRequester;
let forger: GatewayKit;

beforeAll(async () => {
  live = await startEmbeddedRequester();
  live.startGateway();
  forger = await gatewayKit(
    EMBEDDED_GATEWAY_ID,
    await createLocalSigner({
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      alg: 'ES256',
    }),
  );
});
afterAll(() => live.stop());

const get = (jti: string, key = live.key, query = '') =>
  fetch(`${live.url}/v1/transactions/${jti}${query}`, {
    headers: { authorization: `Bearer ${key}` },
  });

async function post(account = 'acct-1'): Promise<string> {
  const res = await fetch(`${live.url}/v1/transactions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${live.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ account, txn }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { jti: string }).jti;
}

describe('GET /v1/transactions/{jti} on the embedded runtime', () => {
  it('answers with the receipt the gateway signed, verifiable with its public JWKS', async () => {
    const jti = await post();
    const res = await get(jti, live.key, '?wait=20');
    expect(res.status).toBe(200);
    const view = (await res.json()) as { receipt: string };
    expect(view).toMatchObject({ jti, status: 'receipted', outcome: 'EXECUTED' });
    const jwks = await readJwksFile(join(embeddedPaths(live.dataDir).keysDir, 'gateway.jwks.json'));
    const { payload } = await jwtVerify(view.receipt, createLocalJWKSet(jwks as never), {
      typ: 'txn-receipt+jwt',
      issuer: EMBEDDED_GATEWAY_ID,
    });
    expect(payload.req).toMatchObject({ jti, iss: EMBEDDED_REQUESTER_ID, sub: 'acct-1' });
    // A rejection is told too: the gateway's reason code, signed.
    const rejected = await fetch(`${live.url}/v1/transactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${live.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ account: 'acct-2', txn: { ...txn, symbol: 'DOGE-USD' } }),
    });
    const { jti: rejectedJti } = (await rejected.json()) as { jti: string };
    expect(await (await get(rejectedJti, live.key, '?wait=20')).json()).toMatchObject({
      status: 'receipted',
      outcome: 'REJECTED',
      reason: 'SYMBOL_NOT_ALLOWED',
    });
  });

  it('a long poll started before the order is sent answers with its receipt', async () => {
    const signed = await live.service.requester.sign(txn, { account: 'acct-1' });
    const waiting = get(signed.jti, live.key, '?wait=20');
    await until(() => live.service.receipts.signals.waiting > 0, 5_000, 'the long poll');
    await live.service.requester.send(signed);
    expect(await (await waiting).json()).toMatchObject({
      jti: signed.jti,
      status: 'receipted',
      outcome: 'EXECUTED',
    });
  });

  it("another API key's view: 404, the same answer as for a jti that never existed", async () => {
    const jti = await post();
    const theirs = await get(jti, live.otherKey, '?wait=20');
    const never = await get('A'.repeat(22), live.otherKey, '?wait=20');
    const strip = async (r: Response) => {
      const { requestId: _drop, ...rest } = (await r.json()) as Record<string, unknown>;
      return { status: r.status, type: r.headers.get('content-type'), body: rest };
    };
    const neverSeen = await strip(never);
    expect(await strip(theirs)).toEqual(neverSeen);
    expect(neverSeen.status).toBe(404);
  });

  it('never serves a forged receipt put on the bus', async () => {
    // Remembered, not sent: only the forged receipts below could answer for it.
    const signed = await live.service.requester.sign(txn, { account: 'acct-1' });
    const order = { iss: EMBEDDED_REQUESTER_ID, jti: signed.jti, account: 'acct-1' };
    const bus = createSqliteEventBus({ path: embeddedPaths(live.dataDir).busDb });
    const genuineLooking = await forger.receipt(order, { outcome: 'EXECUTED' });
    // A real receipt of the gateway (another order's), edited to answer for this order and
    // re-signed under an attacker key with the gateway's kid still in its header.
    const real = (await (await get(await post(), live.key, '?wait=20')).json()) as {
      receipt: string;
    };
    const retargeted = tamperPayload(real.receipt, (p) => ({
      ...p,
      req: { ...(p.req as object), jti: signed.jti },
    }));
    await bus.publish([
      forger.event(genuineLooking),
      forger.event(tamperPayload(genuineLooking, (p) => ({ ...p, iss: 'someone' }))),
      forger.event(retargeted),
      forger.event(await resignedUnderSameKid(retargeted, forger.signer)),
    ]);
    const cursor = receiptCursorOf(EMBEDDED_REQUESTER_ID);
    let last = '0';
    for await (const e of bus.read({})) last = e.id;
    await until(() => Number(bus.position(cursor)) >= Number(last), 20_000, 'the consumer');
    expect(await (await get(signed.jti)).json()).toEqual({ jti: signed.jti, status: 'queued' });
    await bus.close();

    // The order itself then gets its genuine receipt.
    await live.service.requester.send(signed);
    const view = (await (await get(signed.jti, live.key, '?wait=20')).json()) as {
      receipt: string;
    };
    expect(view).toMatchObject({ status: 'receipted', outcome: 'EXECUTED' });
    expect(view.receipt).not.toBe(genuineLooking);
  });
});

describe('methods a path does not declare', () => {
  /** node:http, because fetch refuses to send TRACE. */
  const send = (method: string, path: string) =>
    new Promise<{ status: number; allow: string | undefined }>((resolve, reject) => {
      const req = httpRequest(`${live.url}${path}`, { method }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: res.headers.allow }));
      });
      req.on('error', reject);
      req.end();
    });

  it.each([
    ['TRACE', '/v1/transactions', 'POST'],
    ['GET', '/v1/transactions', 'POST'],
    ['TRACE', '/healthz', 'GET, HEAD'],
    ['OPTIONS', '/v1/transactions:batch', 'POST'],
    ['PUT', `/v1/transactions/${'A'.repeat(22)}`, 'GET, HEAD'],
  ])('%s %s: 405, Allow: %s', async (method, path, allow) => {
    expect(await send(method, path)).toEqual({ status: 405, allow });
  });
});
