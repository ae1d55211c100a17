// What the live operator page shows beside the metrics, read from an embedded data directory:
// each receipt stream's head (the gateway's chain heads), its last signed checkpoint (the
// checkpoint log), when the head receipt was published (the newest bus events), and how far
// the audit's saved state has verified. Every file is opened read-only and may not exist yet
// (nothing has run): the page then shows what there is. Values are shown, never trusted:
// checkpoint and receipt tokens are read with decodeUnverified, the audit state loosely.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { embeddedPaths, sha256B64u, type CountersignConfig } from '@countersign/contracts';
import type { OperatorStatus, OperatorStreamStatus } from '@countersign/requester';
import { openSqlite, type SqliteDatabase } from '@countersign/sqlite';
import { decodeUnverified } from '@countersign/verifier';

/** How many of the newest bus events are searched for the head receipts' publication time. */
const RECENT_EVENTS = 500;
const HEAD_PREFIX = 12;

export interface OperatorStatusSource {
  read(): Promise<OperatorStatus>;
  close(): void;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The audit state's time and per-stream seq (display only; the audit validates it itself). */
async function readAuditState(
  path: string,
): Promise<{ at: number | null; seq: Map<string, number> }> {
  const seq = new Map<string, number>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return { at: null, seq };
  }
  const state = (parsed ?? {}) as { savedAt?: unknown; streams?: unknown; heads?: unknown };
  const streams = state.streams ?? state.heads;
  if (typeof streams === 'object' && streams !== null) {
    for (const [stream, v] of Object.entries(streams)) {
      const s = num((v as { seq?: unknown } | null)?.seq);
      if (s !== null) seq.set(stream, s);
    }
  }
  const at = typeof state.savedAt === 'string' ? Date.parse(state.savedAt) : NaN;
  return { at: Number.isNaN(at) ? null : at, seq };
}

export function embeddedOperatorStatus(config: CountersignConfig): OperatorStatusSource {
  const paths = embeddedPaths(config.dataDir);
  const auditState = config.audit.stateFile ?? paths.auditState;
  const dbs = new Map<string, SqliteDatabase>();
  // Opened on first use once the file exists (the gateway may start after the page is up).
  const db = (path: string): SqliteDatabase | undefined => {
    let d = dbs.get(path);
    if (!d && existsSync(path)) {
      d = openSqlite(path, { readonly: true });
      dbs.set(path, d);
    }
    return d;
  };
  const rows = <T>(path: string, sql: string, ...args: unknown[]): T[] => {
    try {
      return (db(path)
        ?.prepare(sql)
        .all(...args) ?? []) as T[];
    } catch {
      return []; // a table not created yet
    }
  };

  return {
    async read() {
      const heads = rows<{ stream: string; seq: number; hash: string }>(
        paths.nonceDb,
        'SELECT stream, seq, hash FROM chain_heads ORDER BY stream',
      );
      const publishedAt = new Map<string, number>();
      for (const e of rows<{ time: number; detail: string }>(
        paths.busDb,
        'SELECT time, detail FROM bus_events ORDER BY id DESC LIMIT ?',
        RECENT_EVENTS,
      )) {
        try {
          const receipt = (JSON.parse(e.detail) as { receipt?: unknown }).receipt;
          if (typeof receipt !== 'string') continue;
          const hash = sha256B64u(receipt);
          if (!publishedAt.has(hash)) publishedAt.set(hash, e.time);
        } catch {
          // not a receipt event: skipped
        }
      }
      const audit = await readAuditState(auditState);
      const streams: OperatorStreamStatus[] = heads.map((h) => {
        const [cp] = rows<{ idx: number; token: string }>(
          paths.checkpointLog,
          'SELECT idx, token FROM checkpoints WHERE stream = ? ORDER BY idx DESC LIMIT 1',
          h.stream,
        );
        const claims = cp ? decodeUnverified(cp.token) : undefined;
        const cpSeq = num(claims?.seq);
        const cpAt = num(claims?.iat);
        const checkpoint =
          cp && cpSeq !== null && cpAt !== null
            ? { index: cp.idx, seq: cpSeq, at: cpAt * 1000 }
            : null;
        return {
          stream: h.stream,
          seq: h.seq,
          head: h.hash.slice(0, HEAD_PREFIX),
          at: publishedAt.get(h.hash) ?? null,
          checkpoint,
          behind: Math.max(0, h.seq - (checkpoint?.seq ?? 0)),
          audited: audit.seq.get(h.stream) ?? null,
        };
      });
      return { streams, auditSavedAt: audit.at };
    },
    close() {
      for (const d of dbs.values()) d.close();
      dbs.clear();
    },
  };
}
