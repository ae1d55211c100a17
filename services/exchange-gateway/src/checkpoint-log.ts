// The embedded checkpoint store: an append-only log in its own SQLite file (not the bus), shared
// safely by several gateway processes (an append is an INSERT conditional on (stream, index)),
// with triggers that refuse UPDATE and DELETE. Optionally every appended checkpoint is also
// written, one token a line, to an append-only file in a mirror directory the operator names
// (COUNTERSIGN_CHECKPOINT_MIRROR, e.g. another disk): a log rolled back or deleted on the data
// disk then still shows in the mirror.
//
// Append-only here means our code never rewrites an entry and SQLite refuses to; an attacker
// with write access to the data directory can still replace the file. What catches that is the
// mirror and the audit's memory (see services/audit/README.md).
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CHECKPOINT_MIRROR_FILE } from '@countersign/contracts';
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
}

export interface SqliteCheckpointLog extends CheckpointStore {
  close(): Promise<void>;
}

/** Appends one line and fsyncs it: the mirror is only useful if it survives what the log does not. */
function appendLine(file: string, line: string): void {
  const fd = openSync(file, 'a', 0o644);
  try {
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
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
      if (mirrorFile) {
        try {
          appendLine(mirrorFile, checkpoint.token);
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
