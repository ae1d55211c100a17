// @countersign/sqlite: how the embedded adapters open SQLite, and group commit.
export { openSqlite } from './open.ts';
export type { OpenSqliteOptions, SqliteDatabase, SqliteSynchronous } from './open.ts';
export { createGroupCommit } from './group-commit.ts';
export type { GroupCommit, GroupCommitOptions } from './group-commit.ts';
export { addColumnIfMissing } from './columns.ts';
export { acquireRoleLock } from './role-lock.ts';
export type { RoleLock, RoleLockError } from './role-lock.ts';
