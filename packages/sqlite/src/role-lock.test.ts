import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireRoleLock, type RoleLock } from './role-lock.ts';
import { addColumnIfMissing } from './columns.ts';
import { openSqlite } from './open.ts';

const held: RoleLock[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const l of held.splice(0)) l.release();
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

const dataDir = () => mkdtempSync(join(tmpdir(), 'role-lock-'));

/** A child process holding `role`; resolves once it says it holds it. */
async function holder(dir: string, role: string): Promise<ChildProcess> {
  const fixture = fileURLToPath(new URL('./testing/role-lock-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, role], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
  });
  return child;
}

describe('acquireRoleLock', () => {
  it('a second holder in another process fails at once with LOCKED naming role, file and pid; after kill -9 it succeeds', async () => {
    const dir = dataDir();
    const child = await holder(dir, 'gateway');
    let err: unknown;
    try {
      held.push(acquireRoleLock(dir, 'gateway'));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'LOCKED',
      details: { role: 'gateway', path: join(dir, 'locks', 'gateway.lock'), pid: child.pid },
    });
    expect((err as Error).message).toContain(`pid ${child.pid}`);
    // Another role of the same directory is independent.
    held.push(acquireRoleLock(dir, 'requester'));

    child.kill('SIGKILL');
    await once(child, 'exit');
    const lock = acquireRoleLock(dir, 'gateway');
    held.push(lock);
    expect(lock.path).toBe(join(dir, 'locks', 'gateway.lock'));
  });

  it('holds against a second acquire in the same process until released', () => {
    const dir = dataDir();
    const first = acquireRoleLock(dir, 'gateway');
    expect(() => acquireRoleLock(dir, 'gateway')).toThrow(
      expect.objectContaining({
        code: 'LOCKED',
        details: expect.objectContaining({ pid: process.pid }),
      }),
    );
    first.release();
    first.release(); // idempotent
    expect(existsSync(join(dir, 'locks', 'gateway.pid'))).toBe(false);
    held.push(acquireRoleLock(dir, 'gateway'));
  });

  it('refuses a role name that could leave the locks directory', () => {
    expect(() => acquireRoleLock(dataDir(), '../gateway')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

describe('addColumnIfMissing', () => {
  it('adds a missing column once, and leaves an existing one alone', () => {
    const db = openSqlite(join(dataDir(), 'm.sqlite'));
    db.exec('CREATE TABLE t (a TEXT)');
    expect(addColumnIfMissing(db, 't', 'b', 'TEXT')).toBe(true);
    expect(addColumnIfMissing(db, 't', 'b', 'TEXT')).toBe(false);
    db.prepare('INSERT INTO t (a, b) VALUES (?, ?)').run('x', 'y');
    expect(db.prepare('SELECT b FROM t').get()).toEqual({ b: 'y' });
    expect(() => addColumnIfMissing(db, 't; DROP TABLE t', 'c', 'TEXT')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    db.close();
  });
});
