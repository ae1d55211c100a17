// What the audit remembers between runs (issue 14), in one JSON file: per stream the last
// receipt it verified (seq and hash) and the newest checkpoint it saw (index and hash). The next
// run must find both again, or reports HISTORY_REWRITTEN / TAIL_TRUNCATED / STREAM_MISSING.
//
// Protection: each saved state names the SHA-256 of the state before it (`prev`) and counts
// saves (`n`); a `digest` over the content catches edits that did not recompute it. The report
// prints the state loaded and the state saved, so whoever keeps the reports (CI logs, mail)
// holds the chain. What this buys and what it does not is in the README: someone who can write
// the data directory can still rewrite the file consistently; keep it elsewhere (`--state`), or
// keep the reports.
//
// Writes are atomic and survive a full disk: write a temp file, fsync, rename, fsync the
// directory; a failed write removes its temp file and throws (STORE_FAILED), leaving the last
// good state in place. Temp files of dead processes are removed on load.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import {
  GENESIS_PREV,
  canonicalJson,
  errorCodeOf,
  sha256B64u,
  type StateRef,
  type Clock,
} from '@countersign/contracts';
import { AuditError } from './errors.ts';
import type { RememberedStream } from './ports.ts';

const Hash = z.string().regex(/^[A-Za-z0-9_-]{22,43}$/);
const Remembered = z.strictObject({
  seq: z.number().int().nonnegative(),
  head: Hash,
  checkpoint: z.strictObject({ index: z.number().int().min(1), hash: Hash }).optional(),
  genesis: z
    .strictObject({
      seq: z.number().int().min(1),
      head: Hash,
      iat: z.number().int().nonnegative(),
    })
    .optional(),
});
const StateV1 = z.strictObject({
  version: z.literal(1),
  heads: z.record(z.string(), Remembered.omit({ checkpoint: true, genesis: true })),
});
const StateV2 = z.strictObject({
  version: z.literal(2),
  n: z.number().int().min(1),
  prev: Hash,
  savedAt: z.iso.datetime(),
  streams: z.record(z.string(), Remembered),
  digest: Hash,
});

/** Persists what the audit verified so the next run (live or replay) can hold it to it. */
export interface AuditStateStore {
  load(): Promise<Map<string, RememberedStream>>;
  save(streams: ReadonlyMap<string, RememberedStream>): Promise<void>;
  /** The file and the states loaded and last saved (for the report). */
  describe?(): { file: string; loaded: StateRef | null; saved: StateRef | null };
}

/** Writes a whole file durably (injected in fault tests). */
export type DurableWrite = (path: string, data: string) => Promise<void>;

const durableWrite: DurableWrite = async (path, data) => {
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
};

function digestOf(body: object): string {
  return sha256B64u(canonicalJson(body));
}

function refOf(n: number, text: string): StateRef {
  return { n, sha256: createHash('sha256').update(text).digest('base64url') };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCodeOf(err) === 'EPERM';
  }
}

export function jsonFileAuditState(
  path: string,
  options: { readonly clock?: Clock; readonly write?: DurableWrite } = {},
): AuditStateStore {
  const write = options.write ?? durableWrite;
  const now = () => options.clock?.now() ?? Date.now();
  let loaded: StateRef | null = null;
  let saved: StateRef | null = null;
  let last: StateRef | null = null;

  /** Temp files of processes that died mid-save (a full disk left them, or a kill). */
  async function removeStaleTemps(): Promise<void> {
    const name = basename(path);
    let names: string[];
    try {
      names = await readdir(dirname(path));
    } catch {
      return;
    }
    for (const n of names) {
      const m = new RegExp(
        `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.[0-9a-f]+\\.tmp$`,
      ).exec(n);
      if (m && (Number(m[1]) === process.pid || !alive(Number(m[1])))) {
        await unlink(join(dirname(path), n)).catch(() => undefined);
      }
    }
  }

  const invalid = (why: string, cause?: unknown) =>
    new AuditError(
      'STATE_INVALID',
      `audit state ${path} ${why}; move it away to start over (the next run then proves every stream from genesis and remembers nothing)`,
      { cause, details: { path } },
    );

  return {
    async load() {
      await removeStaleTemps();
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if (errorCodeOf(err) === 'ENOENT') return new Map();
        throw err;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (cause) {
        throw invalid('is not JSON', cause);
      }
      const v1 = StateV1.safeParse(json);
      if (v1.success) {
        loaded = last = refOf(0, text);
        return new Map(Object.entries(v1.data.heads));
      }
      const v2 = StateV2.safeParse(json);
      if (!v2.success) throw invalid('is not an audit state', v2.error);
      const { digest, ...body } = v2.data;
      if (digestOf(body) !== digest)
        throw invalid('fails its integrity check (edited or corrupted)');
      loaded = last = refOf(v2.data.n, text);
      return new Map(Object.entries(v2.data.streams));
    },
    async save(streams) {
      await mkdir(dirname(path), { recursive: true });
      const body = {
        version: 2 as const,
        n: (last?.n ?? 0) + 1,
        prev: last?.sha256 ?? GENESIS_PREV,
        savedAt: new Date(now()).toISOString(),
        streams: Object.fromEntries([...streams].sort(([a], [b]) => a.localeCompare(b))),
      };
      const text = `${JSON.stringify({ ...body, digest: digestOf(body) })}\n`;
      const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await write(tmp, text);
        await rename(tmp, path);
      } catch (cause) {
        await unlink(tmp).catch(() => undefined);
        const code = errorCodeOf(cause);
        throw new AuditError(
          'STORE_FAILED',
          `cannot save the audit state ${path}: ${code ?? (cause as Error).message}`,
          {
            cause,
            details: { path, code: code ?? null },
          },
        );
      }
      // The rename is durable once the directory is synced (best effort: not every FS allows it).
      const dir = await open(dirname(path), 'r').catch(() => undefined);
      await dir?.sync().catch(() => undefined);
      await dir?.close();
      saved = last = refOf(body.n, text);
    },
    describe: () => ({ file: path, loaded, saved }),
  };
}

/**
 * Live consumers save after every batch: the newest contiguous heads, keeping what else was
 * remembered (checkpoints, streams not seen this run). Never moves a stream backwards.
 */
export function mergeMemory(
  base: ReadonlyMap<string, RememberedStream>,
  ...updates: readonly ReadonlyMap<string, RememberedStream>[]
): Map<string, RememberedStream> {
  const out = new Map(base);
  for (const update of updates) {
    for (const [stream, u] of update) {
      const had = out.get(stream);
      const head = !had || u.seq >= had.seq ? { seq: u.seq, head: u.head } : had;
      const cp =
        u.checkpoint && (!had?.checkpoint || u.checkpoint.index >= had.checkpoint.index)
          ? u.checkpoint
          : had?.checkpoint;
      const genesis = had?.genesis ?? u.genesis;
      out.set(stream, {
        seq: head.seq,
        head: head.head,
        ...(cp ? { checkpoint: cp } : {}),
        ...(genesis ? { genesis } : {}),
      });
    }
  }
  return out;
}
