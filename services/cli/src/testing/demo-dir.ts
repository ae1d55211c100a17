// Test helpers for the CLI's process-level tests: what a data directory's bus holds, and an
// environment free of the caller's COUNTERSIGN_* settings.
import Database from 'better-sqlite3';
import { embeddedPaths } from '@countersign/contracts';

/** Receipt events on the embedded bus (0 before it exists); `consumer`: that cursor instead. */
export function busCount(dataDir: string, consumer?: string): number {
  try {
    const db = new Database(embeddedPaths(dataDir).busDb, { readonly: true, fileMustExist: true });
    try {
      if (consumer === undefined) {
        return (db.prepare('SELECT count(*) AS n FROM bus_events').get() as { n: number }).n;
      }
      const row = db
        .prepare('SELECT position FROM bus_cursors WHERE consumer = ?')
        .get(consumer) as { position: number } | undefined;
      return row?.position ?? 0;
    } finally {
      db.close();
    }
  } catch {
    return 0; // not created yet
  }
}

/** process.env without COUNTERSIGN_* variables, with the API on any free port. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COUNTERSIGN_')) env[k] = v;
  return { ...env, COUNTERSIGN_HTTP_PORT: '0' };
}
