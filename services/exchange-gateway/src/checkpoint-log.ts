// The embedded checkpoint store: an append-only log in its own SQLite file (not the bus), shared
// safely by several gateway processes (an append is an INSERT conditional on (stream, index)),
// with triggers that refuse UPDATE and DELETE. Optionally every appended checkpoint is also
// written, one token a line, to an append-only file in a mirror directory the operator names
// (COUNTERSIGN_CHECKPOINT_MIRROR, e.g. another disk): a log rolled back or deleted on the data
// disk then still shows in the mirror. At start the mirror is brought up to the log: a kill
// between the log's append and the mirror's would otherwise leave a permanent gap (audited as
// CHECKPOINT_CHAIN_BROKEN). Only tokens the log holds are copied (signed; nothing is invented),
// and nothing is ever removed from the mirror.
//
// Append-only here means our code never rewrites an entry and SQLite refuses to; an attacker
// with write access to the data directory can still replace the file. What catches that is the
// mirror and the audit's memory (see services/audit/README.md).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CHECKPOINT_MIRROR_FILE, errorCodeOf } from '@countersign/contracts';
import { openSqlite } from '@countersign/sqlite';
import { GatewayError } from './errors.ts';
import { silentLogger, type CheckpointStore, type Logger } from './ports.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS checkpoints (
  stream TEXT NOT NULL,
  idx INTEGER NOT NULL,
  token TEXT NOT NULL,
  PRIMARY KEY (stream, idx)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'the checkpoint log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'the checkpoint log is append-only'); END;
`;

export interface SqliteCheckpointLogOptions {
  /** The log file (embeddedPaths(dataDir).checkpointLog). */
  readonly path: string;
  /** A directory that receives a second, append-only copy (one token a line). */
  readonly mirror?: string;
  readonly logger?: Logger;
  /** Test hook: runs after the log's append, before the mirror's (a kill there leaves a gap). */
  readonly afterLogAppend?: (stream: string, index: number) => void;
}

export interface SqliteCheckpointLog extends CheckpointStore {
  close(): Promise<void>;
}

/** Appends text and fsyncs it: the mirror is only useful if it survives what the log does not. */
function appendText(file: string, text: string): void {
  const fd = openSync(file, 'a', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readIfPresent(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (errorCodeOf(err) === 'ENOENT') return '';
    throw err;
  }
}

/**
 * Appends to the mirror every log entry it lacks, oldest first; returns how many. A torn last
 * line (a crash mid-append) is ended first, so the next token starts on a line of its own.
 */
function fillMirror(file: string, log: readonly { token: string }[]): number {
  const text = readIfPresent(file);
  const mirrored = new Set(text.split('\n').map((l) => l.trim()));
  const missing = log.filter((e) => !mirrored.has(e.token)).map((e) => e.token);
  if (missing.length === 0) return 0;
  const torn = text.length > 0 && !text.endsWith('\n');
  appendText(file, `${torn ? '\n' : ''}${missing.join('\n')}\n`);
  return missing.length;
}

export function createSqliteCheckpointLog(
  options: SqliteCheckpointLogOptions,
): SqliteCheckpointLog {
  const logger = options.logger ?? silentLogger;
  mkdirSync(dirname(options.path), { recursive: true });
  // FULL: a checkpoint is an integrity anchor; it should survive a power loss too.
  const db = openSqlite(options.path, { synchronous: 'FULL' });
  db.exec(SCHEMA);
  const insert = db.prepare(
    'INSERT INTO checkpoints (stream, idx, token) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const recent = db.prepare<[string, number], { idx: number; token: string }>(
    'SELECT idx, token FROM checkpoints WHERE stream = ? ORDER BY idx DESC LIMIT ?',
  );
  const streams = db.prepare<[], { stream: string }>(
    'SELECT DISTINCT stream FROM checkpoints ORDER BY stream',
  );
  const mirrorFile = options.mirror ? join(options.mirror, CHECKPOINT_MIRROR_FILE) : undefined;
  if (options.mirror) mkdirSync(options.mirror, { recursive: true });
  if (mirrorFile) {
    try {
      const all = db
        .prepare<[], { token: string }>('SELECT token FROM checkpoints ORDER BY stream, idx')
        .all();
      const filled = fillMirror(mirrorFile, all);
      if (filled > 0) logger.warn({ filled, mirror: mirrorFile }, 'checkpoint mirror gaps filled');
    } catch (err) {
      logger.error({ err, mirror: mirrorFile }, 'checkpoint mirror gaps not filled');
    }
  }
  let closed = false;
  const open = () => {
    if (closed) throw new GatewayError('STORE_FAILED', 'the checkpoint log is closed');
  };

  return {
    append(stream, checkpoint) {
      try {
        open();
        if (insert.run(stream, checkpoint.index, checkpoint.token).changes !== 1) {
          return Promise.resolve(false);
        }
      } catch (cause) {
        return Promise.reject(
          new GatewayError('STORE_FAILED', `cannot append to the checkpoint log ${options.path}`, {
            cause,
            details: { stream, index: checkpoint.index },
          }),
        );
      }
      options.afterLogAppend?.(stream, checkpoint.index);
      if (mirrorFile) {
        try {
          appendText(mirrorFile, `${checkpoint.token}\n`);
        } catch (err) {
          // The log has it; audit reports the mirror's missing line as a chain break only if
          // the log loses it too. Say so loudly: a mirror that stopped mirroring protects nothing.
          logger.error({ err, stream, index: checkpoint.index }, 'checkpoint mirror not written');
        }
      }
      return Promise.resolve(true);
    },
    recent(stream, limit) {
      open();
      return Promise.resolve(
        recent.all(stream, limit).map((r) => ({ index: r.idx, token: r.token })),
      );
    },
    streams() {
      open();
      return Promise.resolve(streams.all().map((r) => r.stream));
    },
    close() {
      if (!closed) {
        closed = true;
        db.close();
      }
      return Promise.resolve();
    },
  };
}
