// A stream's checkpoint chain as audit sees it: every verified checkpoint, one per index, checked
// for one unbroken chain (index 1, 2, 3… without gaps; each `prevCheckpoint` the SHA-256 of the
// one before; seq never going back), and for signs of tampering with the store itself (two
// checkpoints with one index, an S3 object overwritten or delete-marked, one the mirror has and
// the primary store lost). Pure: findings are returned, not reported.
import { sha256B64u, type CheckpointClaims, type Finding } from '@countersign/contracts';
import type { CheckpointEntry } from './ports.ts';

export interface VerifiedCheckpoint {
  readonly claims: CheckpointClaims;
  /** base64url SHA-256 of the checkpoint token. */
  readonly hash: string;
  readonly origins: ReadonlySet<'primary' | 'mirror'>;
  readonly overwritten: boolean;
  readonly deleted: boolean;
  /** Indices the store filed it under that are not its own (a checkpoint moved elsewhere). */
  readonly misplaced: ReadonlySet<number>;
}

export interface CheckpointChain {
  readonly stream: string;
  /** One checkpoint per index (the first one seen where two conflict). */
  readonly byIndex: ReadonlyMap<number, VerifiedCheckpoint>;
  /** The checkpoint with the highest index. */
  readonly newest: VerifiedCheckpoint | undefined;
  /** The checkpoint with the highest index among those signed before `t` (epoch s). */
  lastBefore(t: number): VerifiedCheckpoint | undefined;
}

function ranges(sorted: readonly number[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? `#${sorted[i]}` : `#${sorted[i]}..#${sorted[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}

/**
 * @param candidates every verified checkpoint of the stream, identical ones already merged
 * @param primaryRead whether the primary store was read (otherwise mirror-only is no finding)
 * @param mirrorRead whether a mirror was read: then a checkpoint only the primary store has is a
 *   finding too (a truncated or deleted mirror no longer protects against a log rollback)
 */
export function analyzeCheckpointChain(
  stream: string,
  candidates: readonly VerifiedCheckpoint[],
  primaryRead: boolean,
  mirrorRead = false,
): { chain: CheckpointChain; findings: Finding[] } {
  const findings: Finding[] = [];
  const report = (seq: number | null, message: string) =>
    findings.push({ code: 'CHECKPOINT_CHAIN_BROKEN', stream, seq, jti: null, message });
  const byIndex = new Map<number, VerifiedCheckpoint>();
  const mirrorOnly: number[] = [];
  const primaryOnly: number[] = [];
  for (const c of candidates) {
    const { index, seq } = c.claims;
    const had = byIndex.get(index);
    if (had && had.hash !== c.hash) {
      report(seq, `two different checkpoints carry index #${index}`);
      continue;
    }
    byIndex.set(index, c);
    if (c.overwritten) report(seq, `checkpoint #${index} was written over (more than one version)`);
    if (c.deleted) report(seq, `checkpoint #${index} carries a delete marker`);
    for (const at of c.misplaced) report(seq, `checkpoint #${index} is stored as #${at}`);
    if (primaryRead && !c.origins.has('primary')) mirrorOnly.push(index);
    if (mirrorRead && !c.origins.has('mirror')) primaryOnly.push(index);
  }
  const indices = [...byIndex.keys()].sort((a, b) => a - b);
  if (mirrorOnly.length > 0) {
    report(
      null,
      `checkpoints ${ranges(mirrorOnly.sort((a, b) => a - b))} are in the mirror but not in the checkpoint store`,
    );
  }
  if (primaryOnly.length > 0) {
    report(
      null,
      `checkpoints ${ranges(primaryOnly.sort((a, b) => a - b))} are in the checkpoint store but not in the mirror`,
    );
  }
  const newestIndex = indices[indices.length - 1];
  const missing: number[] = [];
  for (let i = 1; newestIndex !== undefined && i <= newestIndex; i++) {
    if (!byIndex.has(i)) missing.push(i);
  }
  if (missing.length > 0) report(null, `checkpoints ${ranges(missing)} are missing`);
  for (const index of indices) {
    const cur = byIndex.get(index)!;
    const prev = byIndex.get(index - 1);
    if (!prev) continue;
    if (cur.claims.prevCheckpoint !== prev.hash) {
      report(cur.claims.seq, `checkpoint #${index} does not link to checkpoint #${index - 1}`);
    }
    if (cur.claims.seq < prev.claims.seq) {
      report(
        cur.claims.seq,
        `checkpoint #${index} names seq ${cur.claims.seq}, before #${index - 1}'s seq ${prev.claims.seq}`,
      );
    }
  }
  const ordered = indices.map((i) => byIndex.get(i)!);
  return {
    findings,
    chain: {
      stream,
      byIndex,
      newest: ordered[ordered.length - 1],
      lastBefore(t) {
        let best: VerifiedCheckpoint | undefined;
        for (const c of ordered) if (c.claims.iat < t) best = c;
        return best;
      },
    },
  };
}

/** Verified checkpoints by stream, identical ones (log and mirror) merged with their origins. */
export class CheckpointCollector {
  /** @param mirrorRead the source read a mirror (see analyzeCheckpointChain) */
  constructor(private readonly mirrorRead = false) {}

  private readonly byStream = new Map<string, Map<string, VerifiedCheckpoint>>();

  add(entry: CheckpointEntry, claims: CheckpointClaims): void {
    const hash = sha256B64u(entry.token);
    const byHash = this.byStream.get(claims.stream) ?? new Map<string, VerifiedCheckpoint>();
    this.byStream.set(claims.stream, byHash);
    const had = byHash.get(hash);
    byHash.set(hash, {
      claims,
      hash,
      origins: new Set([...(had?.origins ?? []), entry.origin ?? 'primary']),
      overwritten: (had?.overwritten ?? false) || entry.overwritten === true,
      deleted: (had?.deleted ?? false) || entry.deleted === true,
      misplaced: new Set([
        ...(had?.misplaced ?? []),
        ...(entry.storedAs !== undefined && entry.storedAs !== claims.index
          ? [entry.storedAs]
          : []),
      ]),
    });
  }

  streams(): string[] {
    return [...this.byStream.keys()];
  }

  /** The stream's chain and what is wrong with it, or undefined when it has no checkpoint. */
  analyze(stream: string): ReturnType<typeof analyzeCheckpointChain> | undefined {
    const byHash = this.byStream.get(stream);
    return byHash
      ? analyzeCheckpointChain(stream, [...byHash.values()], true, this.mirrorRead)
      : undefined;
  }
}
