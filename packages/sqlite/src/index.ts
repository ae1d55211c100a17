// @countersign/sqlite: how the embedded adapters open SQLite, and group commit.
export {
  openSqlite,
  assertSharedMemoryIntact,
  WAL_AUTOCHECKPOINT_PAGES,
  JOURNAL_SIZE_LIMIT_BYTES,
} from './open.ts';
export { sqliteFailure, describeSqliteFailure, sqliteFileError } from './errors.ts';
export type { DescribedSqliteFailure, SqliteFailure, SqliteFileError } from './errors.ts';
export type { OpenSqliteOptions, SqliteDatabase, SqliteSynchronous } from './open.ts';
export { createGroupCommit } from './group-commit.ts';
export type { GroupCommit, GroupCommitOptions } from './group-commit.ts';
export { addColumnIfMissing } from './columns.ts';
export { acquireRoleLock } from './role-lock.ts';
export type { RoleLock, RoleLockError } from './role-lock.ts';
