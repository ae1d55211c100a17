// The embedded checkpoint source when an attacker (or a cleaner) removed the gateway's log.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_MIRROR_FILE } from '@countersign/contracts';
import { embeddedCheckpoints } from './checkpoint-sources.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('embeddedCheckpoints', () => {
  it('reads the mirror when the whole checkpoints directory of the log is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-src-'));
    dirs.push(dir);
    const mirror = join(dir, 'mirror');
    mkdirSync(mirror);
    writeFileSync(join(mirror, CHECKPOINT_MIRROR_FILE), 'aaa.bbb.ccc\nddd.eee.fff\n');
    const source = embeddedCheckpoints({
      log: join(dir, 'checkpoints', 'checkpoints.sqlite'),
      mirror,
    });
    await expect(source.list()).resolves.toEqual([
      { token: 'aaa.bbb.ccc', origin: 'mirror' },
      { token: 'ddd.eee.fff', origin: 'mirror' },
    ]);
  });

  it('still reports a log it cannot read (not a directory) as STORE_FAILED', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-src-'));
    dirs.push(dir);
    const log = join(dir, 'checkpoints.sqlite');
    mkdirSync(log);
    await expect(embeddedCheckpoints({ log }).list()).rejects.toMatchObject({
      code: 'STORE_FAILED',
    });
  });
});
