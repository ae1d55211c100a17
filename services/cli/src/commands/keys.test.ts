// `countersign keys generate|jwks` in embedded mode: real key files in a temp data directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keysGenerateCommand, keysJwksCommand, register, type KeysCommandIO } from './keys.ts';

function sink() {
  const chunks: string[] = [];
  return { write: (t: string) => chunks.push(t), text: () => chunks.join('') };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-keys-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = undefined;
});

function io() {
  const stdout = sink();
  const stderr = sink();
  const value: KeysCommandIO = { env: { COUNTERSIGN_DATA_DIR: dir }, stdout, stderr };
  return { io: value, stdout, stderr };
}

describe('countersign keys', () => {
  it('generates a key once, refuses to overwrite it, and prints its JWKS', async () => {
    const gen = io();
    expect(await keysGenerateCommand({ name: 'gateway', alg: 'ES384' }, gen.io)).toBe(0);
    const info = JSON.parse(gen.stdout.text()) as { kid: string; alg: string };
    expect(info.alg).toBe('ES384');
    await expect(keysGenerateCommand({ name: 'gateway' }, io().io)).rejects.toMatchObject({
      code: 'KEY_EXISTS',
    });
    const jwks = io();
    expect(await keysJwksCommand({ name: 'gateway' }, jwks.io)).toBe(0);
    const set = JSON.parse(jwks.stdout.text()) as {
      keys: { kid: string; alg: string; d?: string }[];
    };
    expect(set.keys).toEqual([expect.objectContaining({ kid: info.kid, alg: 'ES384' })]);
    expect(set.keys[0]!.d).toBeUndefined();
  });

  it('rejects an unknown key name or alg as a usage error (exit 2)', async () => {
    for (const args of [
      ['keys', 'generate', '--name', 'root'],
      ['keys', 'generate', '--alg', 'HS256'],
    ]) {
      const t = io();
      const program = new Command('countersign').exitOverride();
      register(program, t.io);
      await program.parseAsync(['node', 'countersign', ...args]);
      expect(process.exitCode).toBe(2);
      expect(t.stderr.text()).toMatch(/^--(name|alg) must be one of /);
      process.exitCode = undefined;
    }
  });
});
