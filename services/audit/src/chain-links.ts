// A receipt placed in its stream's table must link: seq 1 to the genesis value, any other to
// the receipt before it (or to the head a previous audit remembered), and the receipt after it
// to it. Checked whenever a receipt arrives, whatever the arrival order. Pure apart from
// marking the later receipt of a broken link.
import { GENESIS_PREV, type Finding, type ReceiptClaims } from '@countersign/contracts';
import { digestWords } from './digest.ts';
import type { StreamStart } from './ports.ts';
import type { StreamTable } from './seq-table.ts';

export interface LinkCheck {
  /** False when this receipt's own `prev` does not link. */
  readonly ok: boolean;
  /** CHAIN_BROKEN findings, on the later receipt of each broken link. */
  readonly findings: Finding[];
}

export function checkLinks(
  table: StreamTable,
  claims: ReceiptClaims,
  hash: Uint32Array,
  prev: Uint32Array,
  anchor: StreamStart | undefined,
): LinkCheck {
  const { seq, stream } = claims;
  const findings: Finding[] = [];
  const broken = (at: number, jti: string | null, message: string) =>
    findings.push({ code: 'CHAIN_BROKEN', stream, seq: at, jti, message });
  let ok = true;
  if (seq === 1) {
    if (claims.prev !== GENESIS_PREV) {
      ok = false;
      broken(seq, claims.jti, 'seq 1 does not start from the genesis prev');
    }
  } else if (table.has(seq - 1)) {
    if (!table.hashEquals(seq - 1, prev)) {
      ok = false;
      broken(seq, claims.jti, `prev is not the hash of receipt ${seq - 1}`);
    }
  } else if (anchor && anchor.seq === seq - 1) {
    if (!digestWords(anchor.head).every((w, i) => w === prev[i])) {
      ok = false;
      broken(seq, claims.jti, `prev is not the hash of the audited head ${anchor.seq}`);
    }
  }
  if (table.has(seq + 1) && !table.prevEquals(seq + 1, hash)) {
    table.markFinding(seq + 1);
    broken(
      seq + 1,
      null,
      `prev of receipt ${seq + 1} is not the hash of receipt ${seq} (${claims.jti})`,
    );
  }
  return { ok, findings };
}
