// The submit lane: POST /v1/transactions on Node without the framework. Hono's request and
// response objects cost more than the rest of a request there (measured: the same requests
// through plain node:http ran at 0.81 of the bench floor against 0.58 through hono). The lane
// takes a request only when every check passes: JSON media type, a known API key, a body
// within the limit that parses and matches the route's own zod schemas. Anything else goes to
// the hono app with the body already read (`bodyOf`), so every refusal, its problem details and
// its log line still come from one place. The route's decision, the frame (request id, log
// line, span, refusal metric) and the failure answer are the app's functions, passed in.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ApiKeyPrincipal } from './api-keys.ts';
import type { Reply, RequestFrame, SubmitRoute } from './http-app.ts';
import { PostHeaders, SubmitBody } from './http-routes.ts';

/** A body larger than the limit (by Content-Length or by the bytes read). */
export const TOO_LARGE = Symbol('too large');
type Body = string | typeof TOO_LARGE;

const bodies = new WeakMap<IncomingMessage, Promise<Body>>();

/** The body the lane already read from this request, if it did. */
export const bodyOf = (incoming: IncomingMessage): Promise<Body> | undefined =>
  bodies.get(incoming);

/** Reads a Node request's body as UTF-8, or TOO_LARGE once it passes `maxBytes`. */
export async function readNodeBody(incoming: IncomingMessage, maxBytes: number): Promise<Body> {
  const declared = Number(incoming.headers['content-length'] ?? 0);
  if (declared > maxBytes) return TOO_LARGE;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return TOO_LARGE; // whatever content-length said
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** Handles the request, or calls `fallback` (the app) untouched except for the body. */
export type Lane = (req: IncomingMessage, res: ServerResponse, fallback: () => void) => void;

export interface SubmitLaneOptions {
  readonly path: string;
  readonly maxBodyBytes: number;
  readonly authenticate: (authorization: string | undefined) => ApiKeyPrincipal | null;
  readonly frame: RequestFrame;
  readonly submit: SubmitRoute;
  readonly failure: (err: unknown, log: Logger) => Reply;
  readonly write: (res: ServerResponse, reply: Reply, requestId: string) => number;
}

// The app takes a JSON body when two tests pass: @hono/zod-openapi's media type gate on the whole
// header (else 415) and hono's JSON validator on the media type (else an empty object, 422). Both
// copied (same sets): a lane looser than the gate would accept what the app refuses.
const ZOD_OPENAPI_JSON = /^application\/([a-z.-]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;
const HONO_JSON = /^application\/([\w.-]+\+)?json$/i;
const isJson = (contentType: string | undefined) =>
  contentType !== undefined &&
  ZOD_OPENAPI_JSON.test(contentType) &&
  HONO_JSON.test(contentType.split(';')[0]!.trim().toLowerCase());

// @hono/node-server answers 400 (before the app, no request id) for a Host header its URL
// building refuses (buildUrl in its listener); the same test here, so the lane never takes what
// the server would not have let in. No Host (HTTP/1.0): the server's own name, the app's call.
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;
function hostAccepted(host: string | undefined, path: string): boolean {
  if (host === undefined) return false;
  if (PLAIN_HOST.test(host)) return true;
  try {
    const { hostname } = new URL(`http://${host}${path}`);
    const bare = (host.includes(':') ? host.replace(/:\d+$/, '') : host).toLowerCase();
    return hostname.length === host.length || hostname === bare;
  } catch {
    return false;
  }
}

const one = (value: string | string[] | undefined) => (Array.isArray(value) ? undefined : value);

export function createSubmitLane(o: SubmitLaneOptions): Lane {
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  /** Resolves true once the lane answered; false when the app should. */
  const take = async (
    req: IncomingMessage,
    res: ServerResponse,
    state: { started: boolean },
  ): Promise<boolean> => {
    // What the headers decide comes first, as in the app: a request without a known key (or
    // with anything else the app refuses) goes to the app before a byte of its body is read, so
    // it gets its 401/415/422 at once instead of the lane waiting for (and holding) its body.
    const principal = o.authenticate(one(req.headers.authorization));
    const headers = PostHeaders.safeParse({ 'idempotency-key': req.headers['idempotency-key'] });
    if (
      principal === null ||
      !isJson(one(req.headers['content-type'])) ||
      !headers.success ||
      !hostAccepted(one(req.headers.host), o.path) ||
      // Node keeps the first of some repeated headers (authorization, content-type) where the
      // app's web Headers join them: repeated headers are the app's to judge.
      req.rawHeaders.length !== 2 * Object.keys(req.headers).length
    ) {
      return false;
    }
    const read = readNodeBody(req, o.maxBodyBytes);
    bodies.set(req, read);
    const text = await read;
    const body = text === TOO_LARGE ? undefined : SubmitBody.safeParse(parse(text));
    if (!body?.success) return false;
    const header = (name: string) => one(req.headers[name]);
    state.started = true;
    await o.frame({ method: 'POST', path: o.path, header }, async (requestId, log) => {
      let reply: Reply;
      try {
        reply = await o.submit(principal, body.data, headers.data['idempotency-key'], log);
      } catch (err) {
        reply = o.failure(err, log);
      }
      const status = o.write(res, reply, requestId);
      const refusal = 'problem' in reply ? reply.problem : undefined;
      return { status, refusal, apiKey: principal.name };
    });
    return true;
  };
  return (req, res, fallback) => {
    if (req.method !== 'POST' || req.url !== o.path) return fallback();
    const state = { started: false };
    take(req, res, state)
      .then((answered) => answered || fallback())
      // Before the frame (the body failed to arrive): the app answers, as before. Inside it
      // (writing failed: the socket is gone), never again: the order may be on the queue.
      .catch(() => (state.started ? res.destroy() : fallback()));
  };
}

const lanes = new WeakMap<object, Lane>();

/** Attaches a lane to an app; startHttpServer serves it in front of the app. */
export const registerLane = (app: object, lane: Lane): void => void lanes.set(app, lane);
export const laneOf = (app: object): Lane | undefined => lanes.get(app);
