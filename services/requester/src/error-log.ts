// What the requester logs about an error: its code, safe details, message and the chain of
// causes (code and message of each, e.g. SQLITE_BUSY "database is locked"), so an operator sees
// why a store or queue call failed. Never a stack, and nothing shaped like a token.
import { errorCodeOf, isCountersignError } from '@countersign/contracts';

/** Three base64url segments: a compact JWS (a bearer credential) is cut out of any message. */
const COMPACT_JWS = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;
const MAX_MESSAGE = 300;
const MAX_CAUSES = 3;

export interface LoggedCause {
  readonly code?: string;
  readonly message: string;
}

function describe(value: unknown): LoggedCause {
  const code = errorCodeOf(value);
  const message = value instanceof Error ? value.message : String(value);
  return {
    ...(code === undefined ? {} : { code }),
    message: message.replace(COMPACT_JWS, '[token]').slice(0, MAX_MESSAGE),
  };
}

/** Log fields of an error: `{ code?, details?, err: { name, message }, cause? }`. */
export function errorFields(err: unknown): Record<string, unknown> {
  const causes: LoggedCause[] = [];
  let next = (err as { cause?: unknown } | null)?.cause;
  while (next !== undefined && next !== null && causes.length < MAX_CAUSES) {
    causes.push(describe(next));
    next = (next as { cause?: unknown }).cause;
  }
  const top = describe(err);
  return {
    ...(isCountersignError(err) ? { code: err.code } : {}),
    ...(isCountersignError(err) && Object.keys(err.details).length > 0
      ? { details: err.details }
      : {}),
    err: { name: err instanceof Error ? err.name : typeof err, message: top.message },
    ...(causes.length > 0 ? { cause: causes } : {}),
  };
}
