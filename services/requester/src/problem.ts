// RFC 9457 problem details: every error answer of the HTTP API has this shape and
// `Content-Type: application/problem+json`. Never a stack trace, never a token.
import type { FieldIssue } from '@countersign/contracts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const Problems = {
  AUTH_REQUIRED: { status: 401, title: 'Authentication required' },
  FORBIDDEN: { status: 403, title: 'Not allowed for this account' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  IDEMPOTENCY_CONFLICT: { status: 409, title: 'Idempotency key conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  REQUEST_INVALID: { status: 422, title: 'Invalid request' },
  UNAVAILABLE: { status: 503, title: 'Temporarily unavailable' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const;
export type ProblemKind = keyof typeof Problems;

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** Machine-readable code (extension member). */
  readonly code: ProblemKind;
  readonly errors?: readonly FieldIssue[];
  readonly requestId?: string;
}

export function problem(
  kind: ProblemKind,
  detail: string,
  extra: { errors?: readonly FieldIssue[]; requestId?: string } = {},
): Problem {
  const { status, title } = Problems[kind];
  return {
    type: `urn:countersign:problem:${kind.toLowerCase().replaceAll('_', '-')}`,
    title,
    status,
    detail,
    code: kind,
    ...(extra.errors ? { errors: extra.errors } : {}),
    ...(extra.requestId ? { requestId: extra.requestId } : {}),
  };
}

export function problemResponse(p: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(p), {
    status: p.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...headers },
  });
}
