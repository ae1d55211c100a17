// Errors of the SQLite layer. Every one names its file: several processes share a data
// directory, and "database disk image is malformed" alone does not say which of five files is.
import { CountersignError, errorCodeOf } from '@countersign/contracts';

export type SqliteFileError = CountersignError<'STORE_FAILED'>;

/** What adapters need to know about a failure of SQLite (or of the file under it). */
export interface SqliteFailure {
  /** SQLite's extended code (SQLITE_BUSY, SQLITE_CORRUPT, SQLITE_IOERR_SHORT_READ, ...), or ours. */
  readonly code: string;
  /** Another process held the lock: trying again later may work. */
  readonly retryable: boolean;
  /** The cause's own message (never a row value: SQLite messages carry none). */
  readonly reason: string;
}

export function sqliteFailure(err: unknown): SqliteFailure {
  const e = err as { details?: unknown; message?: unknown } | null;
  // Our own file errors carry SQLite's (or our) code in details; SQLite's errors in `code`.
  const code = errorCodeOf(e?.details) ?? errorCodeOf(err) ?? 'SQLITE_ERROR';
  return {
    code,
    retryable: code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'),
    reason: typeof e?.message === 'string' ? e.message : String(err),
  };
}

/** An adapter's own error for a failure of SQLite or its file: the message and safe details. */
export interface DescribedSqliteFailure {
  /** `<what> failed on <path>: <reason> (<code>)`. */
  readonly message: string;
  readonly details: { readonly code: string; readonly retryable: boolean; readonly path: string };
}

export function describeSqliteFailure(
  what: string,
  path: string,
  err: unknown,
): DescribedSqliteFailure {
  const f = sqliteFailure(err);
  return {
    // An error of this layer already names its file.
    message: f.reason.includes(path)
      ? `${what} failed: ${f.reason}`
      : `${what} failed on ${path}: ${f.reason} (${f.code})`,
    details: { code: f.code, retryable: f.retryable, path },
  };
}

/** A failure of the file itself (open, preflight, a truncated -shm), as STORE_FAILED. */
export function sqliteFileError(
  path: string,
  message: string,
  options: { readonly code?: string; readonly cause?: unknown } = {},
): SqliteFileError {
  const f = options.cause === undefined ? undefined : sqliteFailure(options.cause);
  const code = options.code ?? f?.code ?? 'SQLITE_ERROR';
  return new CountersignError(
    'STORE_FAILED',
    `${path}: ${message}${f ? `: ${f.reason}` : ''} (${code})`,
    {
      details: { path, code, retryable: f?.retryable ?? false },
      cause: options.cause,
    },
  );
}
