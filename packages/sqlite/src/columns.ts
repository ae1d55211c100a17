// Additive schema migration for files created by an older version: add a column if it is missing.
// Several processes may open one file at once, so losing the race to another process's ALTER
// (SQLite: "duplicate column name") counts as done.
import { CountersignError } from '@countersign/contracts';
import type { SqliteDatabase } from './open.ts';

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** Adds `column` (with its SQL declaration, e.g. `TEXT`) to `table` unless it exists. */
export function addColumnIfMissing(
  db: SqliteDatabase,
  table: string,
  column: string,
  declaration: string,
): boolean {
  if (!IDENTIFIER.test(table) || !IDENTIFIER.test(column)) {
    throw new CountersignError('CONFIG_INVALID', `not a plain SQL identifier: ${table}.${column}`);
  }
  const has = (): boolean =>
    db
      .prepare<[], { name: string }>(`PRAGMA table_info(${table})`)
      .all()
      .some((c) => c.name === column);
  if (has()) return false;
  try {
    db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${declaration}`);
    return true;
  } catch (err) {
    if (has()) return false; // another process added it first
    throw err;
  }
}
