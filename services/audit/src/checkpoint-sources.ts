// Where audit reads the gateways' signed checkpoints (unverified here: the auditor verifies).
// - embedded: the append-only checkpoint log (SQLite, written by the gateway) and, when
//   configured, its mirror file (one token a line). Audit reads them with its own few lines
//   rather than the gateway's adapter: a bug in the gateway's reader must not blind its auditor.
// - AWS: every version of every object under `checkpoints/` of the S3 bucket (versioning +
//   Object Lock). A key with more than one version, or a delete marker, is reported by the
//   auditor: checkpoints are written once.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import {
  CHECKPOINT_MIRROR_FILE,
  checkpointIndexOfKey,
  checkpointObjectPrefix,
  errorCodeOf,
} from '@countersign/contracts';
import { AuditError } from './errors.ts';
import type { CheckpointEntry, CheckpointSource } from './ports.ts';

const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function isMissing(err: unknown): boolean {
  const code = errorCodeOf(err);
  return code === 'ENOENT' || code === 'SQLITE_CANTOPEN';
}

/** Rows of the gateway's checkpoint log (`checkpoints` table: `idx`, `token`). */
function readLog(path: string): { idx: number; token: string }[] {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true }); // audit never writes it
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  try {
    db.pragma('busy_timeout = 5000');
    return db
      .prepare<[], { idx: number; token: string }>(
        'SELECT idx, token FROM checkpoints ORDER BY stream, idx',
      )
      .all();
  } finally {
    db.close();
  }
}

/** The checkpoint log and, if configured, its mirror. Missing files mean none yet. */
export function embeddedCheckpoints(options: {
  readonly log: string;
  readonly mirror?: string;
}): CheckpointSource {
  return {
    async list() {
      const out: CheckpointEntry[] = [];
      try {
        for (const r of readLog(options.log)) {
          out.push({ token: r.token, origin: 'primary', storedAs: r.idx });
        }
      } catch (cause) {
        throw new AuditError(
          'STORE_FAILED',
          `cannot read the checkpoint log ${options.log}: ${(cause as Error).message}`,
          { cause },
        );
      }
      if (options.mirror) {
        let text = '';
        try {
          text = await readFile(join(options.mirror, CHECKPOINT_MIRROR_FILE), 'utf8');
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
        // A torn last line (a crash mid-append) is not a token; anything else is audited.
        for (const line of text.split('\n')) {
          const token = line.trim();
          if (token && JWS.test(token)) out.push({ token, origin: 'mirror' });
        }
      }
      return out;
    },
  };
}

/** Every version of every checkpoint object in the bucket. */
export function s3Checkpoints(options: {
  readonly client: Pick<S3Client, 'send'>;
  readonly bucket: string;
}): CheckpointSource {
  const { client, bucket } = options;
  return {
    async list() {
      const versions = new Map<string, string[]>();
      const deleted = new Set<string>();
      let keyMarker: string | undefined;
      let versionMarker: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectVersionsCommand({
              Bucket: bucket,
              Prefix: checkpointObjectPrefix(),
              ...(keyMarker ? { KeyMarker: keyMarker } : {}),
              ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
            }),
          );
          for (const v of page.Versions ?? []) {
            if (!v.Key || !v.VersionId) continue;
            versions.set(v.Key, [...(versions.get(v.Key) ?? []), v.VersionId]);
          }
          for (const m of page.DeleteMarkers ?? []) if (m.Key && m.IsLatest) deleted.add(m.Key);
          keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
          versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
        } while (keyMarker);
        const out: CheckpointEntry[] = [];
        for (const [key, ids] of versions) {
          for (const versionId of ids) {
            const body = await client.send(
              new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
            );
            const storedAs = checkpointIndexOfKey(key);
            out.push({
              token: (await body.Body!.transformToString('utf8')).trim(),
              origin: 'primary',
              overwritten: ids.length > 1,
              deleted: deleted.has(key),
              ...(storedAs === undefined ? {} : { storedAs }),
            });
          }
        }
        return out;
      } catch (cause) {
        throw new AuditError(
          'STORE_FAILED',
          `cannot read the checkpoints of bucket ${bucket}: ${(cause as Error).message}`,
          { cause },
        );
      }
    },
  };
}

/** Checkpoints held in memory (tests, or an object store already read). */
export function staticCheckpoints(tokens: readonly string[]): CheckpointSource {
  return { list: () => Promise.resolve(tokens.map((token) => ({ token }))) };
}
