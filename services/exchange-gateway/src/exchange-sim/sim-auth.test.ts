import { createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuthHeaders, signingInput, signRequest } from '../exchange-api.ts';
import { authenticate, type AuthInput } from './sim-auth.ts';

const secret = createSecretKey(Buffer.from('sim-secret-1'));
const NOW = 1_800_000_000_000;

function request(
  over: {
    key?: string;
    timestamp?: number;
    signWith?: typeof secret;
    signedPath?: string;
    signedBody?: string;
    signedMethod?: string;
    window?: string;
    signature?: string;
  } = {},
): AuthInput {
  const ts = String(over.timestamp ?? NOW);
  const body = '{"clientOrderId":"x"}';
  const sig =
    over.signature ??
    signRequest(
      over.signWith ?? secret,
      signingInput(
        ts,
        over.signedMethod ?? 'POST',
        over.signedPath ?? '/api/v1/orders',
        over.signedBody ?? body,
      ),
    );
  return {
    headers: {
      [AuthHeaders.API_KEY]: over.key ?? 'key-1',
      [AuthHeaders.TIMESTAMP]: ts,
      [AuthHeaders.SIGNATURE]: sig,
      ...(over.window ? { [AuthHeaders.RECV_WINDOW]: over.window } : {}),
    },
    method: 'POST',
    pathWithQuery: '/api/v1/orders',
    body,
    now: NOW,
    maxRecvWindowMs: 5000,
    futureToleranceMs: 1000,
    secretOf: (k) => (k === 'key-1' ? secret : undefined),
  };
}

describe('simulator request authentication', () => {
  it('accepts a correctly signed, fresh request', () => {
    expect(authenticate(request())).toEqual({ ok: true, apiKey: 'key-1' });
  });

  it.each([
    ['an unknown key', { key: 'key-2' }, 'UNKNOWN_API_KEY'],
    [
      'another secret',
      { signWith: createSecretKey(Buffer.from('sim-secret-2')) },
      'INVALID_SIGNATURE',
    ],
    ['a signature over another body', { signedBody: '{"clientOrderId":"y"}' }, 'INVALID_SIGNATURE'],
    ['a signature over another path', { signedPath: '/api/v1/orders?x=1' }, 'INVALID_SIGNATURE'],
    ['a signature over another method', { signedMethod: 'DELETE' }, 'INVALID_SIGNATURE'],
    ['a non-hex signature', { signature: 'z'.repeat(64) }, 'INVALID_SIGNATURE'],
    ['an expired timestamp', { timestamp: NOW - 5001 }, 'TIMESTAMP_OUTSIDE_RECV_WINDOW'],
    ['a timestamp from the future', { timestamp: NOW + 1001 }, 'TIMESTAMP_OUTSIDE_RECV_WINDOW'],
    [
      'a narrower window of the client',
      { timestamp: NOW - 1500, window: '1000' },
      'TIMESTAMP_OUTSIDE_RECV_WINDOW',
    ],
  ])('rejects %s', (_, over, code) => {
    expect(authenticate(request(over))).toMatchObject({ ok: false, code });
  });

  it('lets a client narrow the window but never widen it', () => {
    expect(authenticate(request({ timestamp: NOW - 4000, window: '60000' }))).toMatchObject({
      ok: true,
    });
    expect(authenticate(request({ timestamp: NOW - 6000, window: '60000' }))).toMatchObject({
      ok: false,
      code: 'TIMESTAMP_OUTSIDE_RECV_WINDOW',
    });
  });

  it('refuses a malformed timestamp or duplicated headers', () => {
    const bad = request();
    expect(
      authenticate({ ...bad, headers: { ...bad.headers, [AuthHeaders.TIMESTAMP]: '17e11' } }),
    ).toMatchObject({ ok: false, code: 'INVALID_SIGNATURE' });
    expect(
      authenticate({
        ...bad,
        headers: { ...bad.headers, [AuthHeaders.API_KEY]: ['key-1', 'key-1'] },
      }),
    ).toMatchObject({ ok: false, code: 'UNKNOWN_API_KEY' });
  });
});
