// The simulator's request authentication, as one pure function in the order a reviewer reads:
// known API key → well-formed timestamp → HMAC-SHA256 signature over timestamp + METHOD + path
// (as sent, with query) + body → timestamp inside the receive window. Only then is the request
// looked at. The client's receive window header may narrow the simulator's, never widen it.
import type { KeyObject } from 'node:crypto';
import { ApiErrorCodes, AuthHeaders, signatureMatches, signingInput } from '../exchange-api.ts';
import type { ApiErrorCode } from '../exchange-api.ts';

export type AuthResult =
  | { readonly ok: true; readonly apiKey: string }
  | { readonly ok: false; readonly code: ApiErrorCode; readonly message: string };

export interface AuthInput {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly method: string;
  readonly pathWithQuery: string;
  readonly body: string;
  readonly now: number;
  /** The longest window the simulator accepts (ms). */
  readonly maxRecvWindowMs: number;
  /** How far in the future a timestamp may be (clock drift), ms. */
  readonly futureToleranceMs: number;
  readonly secretOf: (apiKey: string) => KeyObject | undefined;
}

const one = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? undefined : v;

export function authenticate(input: AuthInput): AuthResult {
  const fail = (code: ApiErrorCode, message: string): AuthResult => ({ ok: false, code, message });
  const apiKey = one(input.headers[AuthHeaders.API_KEY]);
  const secret = apiKey === undefined ? undefined : input.secretOf(apiKey);
  if (apiKey === undefined || secret === undefined) {
    return fail(ApiErrorCodes.UNKNOWN_API_KEY, 'unknown or missing API key');
  }
  const timestamp = one(input.headers[AuthHeaders.TIMESTAMP]);
  if (timestamp === undefined || !/^\d{1,16}$/.test(timestamp)) {
    return fail(ApiErrorCodes.INVALID_SIGNATURE, 'missing or malformed timestamp');
  }
  const unverifiedSignature = one(input.headers[AuthHeaders.SIGNATURE]) ?? '';
  const signed = signingInput(timestamp, input.method, input.pathWithQuery, input.body);
  if (!signatureMatches(secret, signed, unverifiedSignature)) {
    return fail(ApiErrorCodes.INVALID_SIGNATURE, 'signature does not match');
  }
  const asked = one(input.headers[AuthHeaders.RECV_WINDOW]);
  const window =
    asked !== undefined && /^\d{1,6}$/.test(asked)
      ? Math.min(Number(asked), input.maxRecvWindowMs)
      : input.maxRecvWindowMs;
  const age = input.now - Number(timestamp);
  if (age > window || -age > input.futureToleranceMs) {
    return fail(
      ApiErrorCodes.TIMESTAMP_OUTSIDE_RECV_WINDOW,
      `timestamp is ${age} ms from the server time; the window is ${window} ms`,
    );
  }
  return { ok: true, apiKey };
}
