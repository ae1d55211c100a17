// How a stream's checkpoints chain (DESIGN.md §6a), in one home for the gateway that signs them
// and the synthetic gateway that imitates it: checkpoint n + 1 names the SHA-256 of checkpoint
// n's token; the first names the genesis value.
import { CheckpointClaims, WIRE_VERSION } from './claims.ts';
import { sha256B64u } from './canonical.ts';
import { GENESIS_PREV } from './ids.ts';

/** The newest checkpoint of a stream, as the next one needs it. */
export interface CheckpointLink {
  readonly index: number;
  readonly token: string;
}

/** Claims of the checkpoint that follows `previous` (undefined: the stream's first). */
export function nextCheckpointClaims(
  previous: CheckpointLink | undefined,
  head: { readonly stream: string; readonly seq: number; readonly hash: string },
  at: { readonly iss: string; readonly iat: number },
): CheckpointClaims {
  return CheckpointClaims.parse({
    v: WIRE_VERSION,
    iss: at.iss,
    iat: at.iat,
    stream: head.stream,
    seq: head.seq,
    head: head.hash,
    index: previous ? previous.index + 1 : 1,
    prevCheckpoint: previous ? sha256B64u(previous.token) : GENESIS_PREV,
  });
}
