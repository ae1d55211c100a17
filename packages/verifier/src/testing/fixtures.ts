// Shared fixtures for the verifier's tests (not exported from the package).
import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import {
  errorCodeOf,
  GENESIS_PREV,
  type Algorithm,
  type RequestClaims,
} from '@countersign/contracts';
import {
  createLocalSigner,
  cryptoKeyOptions,
  signJwt,
  toJwks,
  type Signer,
} from '@countersign/signing';
import { createVerifier, type VerifierOptions } from '../verifier.ts';
import { staticKeys } from '../key-resolvers.ts';

/** 2026-01-01T00:00:00Z: tests run on a frozen clock. */
export const NOW_MS = 1_767_225_600_000;
export const NOW = NOW_MS / 1000;
export const clock = { now: () => NOW_MS };

export function keyPair(alg: Algorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (alg) {
    case 'RS256':
    case 'PS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ES384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
  }
}

export interface Fixture {
  readonly alg: Algorithm;
  readonly signer: Signer;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export async function fixture(alg: Algorithm): Promise<Fixture> {
  const { privateKey, publicKey } = keyPair(alg);
  return { alg, signer: await createLocalSigner({ privateKey, alg }), privateKey, publicKey };
}

export function requestClaims(
  overrides: Record<string, unknown> = {},
): RequestClaims & Record<string, unknown> {
  return {
    iss: 'req-1',
    sub: 'acct-1',
    aud: 'gw-1',
    iat: NOW,
    nbf: NOW,
    exp: NOW + 60,
    jti: 'AAAAAAAAAAAAAAAAAAAAAA',
    txn: {
      type: 'order',
      side: 'buy',
      symbol: 'BTC-USD',
      quantity: '0.015',
      limitPrice: '64000.10',
      timeInForce: 'GTC',
    },
    ...overrides,
  };
}

/** Valid receipt claims (an EXECUTED receipt, first of its stream). */
export function receiptClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: 1,
    iss: 'gw-1',
    iat: NOW,
    jti: 'BBBBBBBBBBBBBBBBBBBBBB',
    req: { jti: 'AAAAAAAAAAAAAAAAAAAAAA', iss: 'req-1', sub: 'acct-1', sha256: 'C'.repeat(43) },
    messageId: 'm-1',
    outcome: 'EXECUTED',
    fills: [{ quantity: '0.015', price: '64000.1' }],
    stream: 'gw-1/0',
    seq: 1,
    prev: GENESIS_PREV,
    ...overrides,
  };
}

export function requestToken(
  signer: Signer,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  return signJwt(signer, requestClaims(overrides), { typ: 'txn+jwt' });
}

export function requestVerifier(
  signers: readonly Signer[],
  options: Partial<VerifierOptions<'txn+jwt', RequestClaims>> = {},
) {
  return createVerifier({
    keys: staticKeys(toJwks(signers)),
    issuers: ['req-1'],
    audience: 'gw-1',
    typ: 'txn+jwt',
    clock,
    ...options,
  });
}

export const b64 = (v: string | Uint8Array): string => Buffer.from(v).toString('base64url');
export const b64json = (v: unknown): string => b64(JSON.stringify(v));

/** Runs `fn` and returns the error's code (fails the test if it resolves). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String(errorCodeOf(err));
  }
  throw new Error('expected a rejection');
}

/** Signs arbitrary header/payload TEXT with a fixture's private key, as `alg` says. */
export function signRaw(
  f: Pick<Fixture, 'privateKey'>,
  alg: Algorithm,
  headerText: string,
  payloadText: string,
): string {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  const hash = alg === 'ES384' ? 'sha384' : 'sha256';
  const sig = cryptoSign(hash, Buffer.from(input), cryptoKeyOptions(f.privateKey, alg));
  return `${input}.${b64(sig)}`;
}

export function header(f: Pick<Fixture, 'signer'>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ alg: f.signer.alg, kid: f.signer.kid, typ: 'txn+jwt', ...extra });
}
