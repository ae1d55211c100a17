// The receipt protocol's naming rules, in one home (every service imports them from here):
// stream names, the partition of an account, nonce-store keys and the exchange client order id.
// A rule with two copies drifts; these have exactly one.
import { createHash } from 'node:crypto';
import { IDENTIFIER, JTI, STREAM } from './ids.ts';

/** A stream is `<gatewayId>/<partition>`: one writer, one gap-free `seq`. */
export function streamOf(gatewayId: string, partition: number): string {
  return `${gatewayId}/${partition}`;
}

/** The gateway id of a stream name (everything before the last `/`). */
export function gatewayOf(stream: string): string {
  const at = stream.lastIndexOf('/');
  return at < 0 ? stream : stream.slice(0, at);
}

/** First 4 bytes of sha256(key), big-endian, mod P: one account always maps to one stream. */
export function partitionOf(key: string, partitions: number): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % partitions;
}

/**
 * Nonce-store keys. `request` is claimed only after the token verified; `message` keys a
 * receipt for a message refused without (or before) its own request key; `resolution` keys the
 * follow-up receipt that resolves an UNKNOWN.
 */
export const NonceKeys = {
  request: (iss: string, jti: string): string => `${iss}#${jti}`,
  message: (messageId: string): string => `msg#${messageId}`,
  resolution: (unknownReceiptJti: string): string => `res#${unknownReceiptJti}`,
} as const;

/**
 * The exchange's client order id of a request: namespaced by issuer, so two requesters that
 * reuse one jti place two orders. `cs` + 32 base64url chars of sha256(`iss#jti`) (192 bits):
 * 34 characters of [A-Za-z0-9_-], inside the usual exchange limits (e.g. 36, that charset).
 */
export function clientOrderIdOf(iss: string, jti: string): string {
  const digest = createHash('sha256').update(NonceKeys.request(iss, jti)).digest('base64url');
  return `cs${digest.slice(0, 32)}`;
}

/**
 * The issuer and jti of a request key (`iss#jti`, see NonceKeys.request); undefined for the other
 * key kinds (`msg#…`, `res#…`) and for anything that is not a request key.
 */
export function requestKeyParts(key: string): { iss: string; jti: string } | undefined {
  const at = key.indexOf('#');
  if (at < 0) return undefined;
  const iss = key.slice(0, at);
  const jti = key.slice(at + 1);
  if (iss === 'msg' || iss === 'res' || !IDENTIFIER.test(iss) || !JTI.test(jti)) return undefined;
  return { iss, jti };
}
/** Largest checkpoint index an object key can carry (12 digits). */
export const MAX_CHECKPOINT_INDEX = 999_999_999_999;

/**
 * Object key of a checkpoint in the S3 store: `checkpoints/<gatewayId>/<partition>/<n>.jws` with
 * n = MAX_CHECKPOINT_INDEX − index, zero-padded, so a listing returns the newest first (the
 * gateway reads one key to continue a stream's checkpoint chain).
 */
export function checkpointObjectKey(stream: string, index: number): string {
  return `${checkpointObjectPrefix(stream)}${String(MAX_CHECKPOINT_INDEX - index).padStart(12, '0')}.jws`;
}

/** Prefix of every checkpoint key of a stream (or, without a stream, of every checkpoint). */
export function checkpointObjectPrefix(stream?: string): string {
  return stream === undefined ? 'checkpoints/' : `checkpoints/${stream}/`;
}

const CHECKPOINT_KEY = new RegExp(`^checkpoints/${STREAM.source.slice(1, -1)}/([0-9]{12})\\.jws$`);

/** The checkpoint index a key names, or undefined when it is not a checkpoint key. */
export function checkpointIndexOfKey(key: string): number | undefined {
  const m = CHECKPOINT_KEY.exec(key);
  return m ? MAX_CHECKPOINT_INDEX - Number(m[1]) : undefined;
}

/** File name of the checkpoint mirror (one checkpoint token a line, append-only). */
export const CHECKPOINT_MIRROR_FILE = 'countersign-checkpoints.log';
