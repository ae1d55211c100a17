// openSqlite refuses files it cannot use with a typed error naming the file, and group commit
// turns a truncated -shm (a SIGBUS for plain SQLite) into one. The SIGBUS cases run in a child
// process: a regression kills that child, not the test runner.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createGroupCommit } from './group-commit.ts';
import { openSqlite } from './open.ts';
import { corruptPages } from './testing/damage.ts';

const dir = mkdtempSync(join(tmpdir(), 'cs-sqlite-open-'));
const cleanup: string[] = [dir];
afterAll(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});
let n = 0;
const fresh = () => join(dir, `db-${++n}.sqlite`);

const CHILD = fileURLToPath(new URL('./testing/shm-truncation-child.ts', import.meta.url));
const NOBODY = 65534;
let childTmp: string | undefined;
/** Runs node as an unprivileged user when we are root (root ignores file modes). */
function nodeAs(args: string[]) {
  const root = process.getuid?.() === 0;
  const [cmd, argv] = root
    ? [
        'setpriv',
        [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, ...args],
      ]
    : [process.execPath, args];
  // tsx keeps its cache under TMPDIR: give the other user one it may write (one for all runs).
  if (!childTmp) {
    childTmp = mkdtempSync(join(root ? '/tmp' : dir, 'cs-tmp-'));
    cleanup.push(childTmp);
    if (root) chownSync(childTmp, NOBODY, NOBODY);
  }
  const tmp = childTmp;
  return spawnSync(cmd, argv, {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, TMPDIR: tmp },
  });
}

describe('openSqlite', () => {
  it('sets WAL and never maps the database file', () => {
    const db = openSqlite(fresh());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('mmap_size', { simple: true })).toBe(0);
    db.close();
  });

  it('a file that is not a database: STORE_FAILED naming it', () => {
    const path = fresh();
    writeFileSync(path, 'this is not a database, just text '.repeat(200));
    expect(() => openSqlite(path)).toThrow(
      expect.objectContaining({
        code: 'STORE_FAILED',
        message: expect.stringContaining(`${path}: cannot open the database`),
        details: expect.objectContaining({ path, code: 'SQLITE_NOTADB' }),
      }),
    );
  });

  it('a failing setup (schema on a damaged file) names the file', () => {
    const path = fresh();
    const db = openSqlite(path, { setup: (d) => d.exec('CREATE TABLE t (v TEXT)') });
    db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(3000));
    db.close();
    corruptPages(path);
    expect(() =>
      openSqlite(path, { setup: (d) => d.prepare('SELECT count(*) FROM t').get() }),
    ).toThrow(
      expect.objectContaining({
        code: 'STORE_FAILED',
        message: expect.stringMatching(
          new RegExp(`^${path}: cannot open the database: .*SQLITE_CORRUPT`),
        ),
      }),
    );
  });

  it('read-only: never writes a row; a missing file is STORE_FAILED naming it (nothing created)', () => {
    const existing = fresh();
    openSqlite(existing, { setup: (d) => d.exec('CREATE TABLE t (v TEXT)') }).close();
    const reader = openSqlite(existing, { readonly: true });
    expect(() => reader.exec("INSERT INTO t VALUES ('x')")).toThrow(/readonly|query_only/i);
    reader.close();
    const path = join(dir, 'absent.sqlite');
    expect(() => openSqlite(path, { readonly: true })).toThrow(
      expect.objectContaining({ code: 'STORE_FAILED', message: expect.stringContaining(path) }),
    );
    expect(existsSync(path)).toBe(false);
  });

  it('unwritable files and directories are refused before SQLite opens them, naming the file', () => {
    // When root, the other user must be able to reach the directory: not under our 0700 temp dir.
    const sub = mkdtempSync(join(process.getuid?.() === 0 ? '/tmp' : dir, 'cs-perm-'));
    chmodSync(sub, 0o755);
    cleanup.push(sub);
    const path = join(sub, 'shared.sqlite');
    const db = openSqlite(path, { setup: (d) => d.exec('CREATE TABLE t (v TEXT)') });
    db.prepare('INSERT INTO t VALUES (?)').run('x');
    // Keep -wal and -shm on disk, as a crashed or still running process leaves them.
    const keep = openSqlite(path);
    // One child (as another user when we are root) tries each case: chmod, open, restore.
    const script = `
      import { chmodSync } from 'node:fs';
      const { openSqlite } = await import(${JSON.stringify(new URL('./open.ts', import.meta.url).href)});
      const attempt = () => {
        try { openSqlite(process.argv[1]).close(); return 'opened'; }
        catch (e) { return { code: e.code, message: e.message, details: e.details }; }
      };
      const out = [];
      for (const f of JSON.parse(process.argv[2])) {
        if (f) chmodSync(f, 0o444);
        out.push(attempt());
        if (f) chmodSync(f, 0o644);
      }
      console.log(JSON.stringify(out));`;
    const attempts = (files: (string | null)[]) => {
      const r = nodeAs([
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
        path,
        JSON.stringify(files),
      ]);
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout) as unknown[];
    };
    if (process.getuid?.() === 0) {
      for (const f of [sub, path, `${path}-wal`, `${path}-shm`]) chownSync(f, NOBODY, NOBODY);
    }
    const files = [`${path}-shm`, `${path}-wal`, path];
    expect(attempts([null, ...files])).toEqual([
      'opened',
      ...files.map((f) =>
        expect.objectContaining({
          code: 'STORE_FAILED',
          message: expect.stringContaining(`${f}: is not readable and writable by this process`),
          details: { path: f, code: 'EACCES', retryable: false },
        }),
      ),
    ]);
    keep.close();
    db.close(); // the last close removes -wal and -shm: now they must be created
    chmodSync(sub, 0o555);
    expect(attempts([null])).toEqual([
      expect.objectContaining({
        code: 'STORE_FAILED',
        message: expect.stringContaining(
          `cannot create shared.sqlite-wal, shared.sqlite-shm: the directory ${sub} is not writable`,
        ),
      }),
    ]);
    chmodSync(sub, 0o755);
  });
});

describe('a -shm truncated under a running process', () => {
  it('kills plain SQLite with SIGBUS, silently (the reproduction); through group commit the write is a typed error first', () => {
    const raw = spawnSync(process.execPath, ['--import', 'tsx', CHILD, fresh(), 'raw'], {
      encoding: 'utf8',
    });
    expect(raw.signal).toBe('SIGBUS');
    expect(raw.stdout).toBe('');

    const path = fresh();
    const guarded = spawnSync(process.execPath, ['--import', 'tsx', CHILD, path, 'guarded'], {
      encoding: 'utf8',
    });
    // The process lived to report it (what it does at teardown is SQLite's close, see open.ts).
    expect(JSON.parse(guarded.stdout)).toEqual({
      code: 'STORE_FAILED',
      message: expect.stringContaining(`${path}-shm: shrank from 32768 to 0 bytes`),
      details: { path: `${path}-shm`, code: 'SHM_TRUNCATED', retryable: false },
    });
  });

  it('a -shm deleted under the process is refused too', async () => {
    const path = fresh();
    const db = openSqlite(path, { setup: (d) => d.exec('CREATE TABLE t (v TEXT)') });
    const group = createGroupCommit(db);
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    await group.run(() => insert.run('a'));
    rmSync(`${path}-shm`);
    await expect(group.run(() => insert.run('b'))).rejects.toMatchObject({
      code: 'STORE_FAILED',
      details: { code: 'SHM_TRUNCATED' },
      message: expect.stringContaining('was deleted while this process has it mapped'),
    });
    group.close();
  });

  it('a closed group commit rejects with a typed error naming the file', async () => {
    const path = fresh();
    const group = createGroupCommit(openSqlite(path));
    group.close();
    await expect(group.run(() => 1)).rejects.toMatchObject({
      code: 'STORE_FAILED',
      message: `${path}: is closed (CLOSED)`,
    });
  });
});
