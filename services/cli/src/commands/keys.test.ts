// `countersign keys generate|jwks|rotate` in embedded mode: real key files in a temp data directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  keysGenerateCommand,
  keysJwksCommand,
  keysRotateCommand,
  register,
  type KeysCommandIO,
} from './keys.ts';

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

  it('rotates: the next key signs from nbf, the previous one retires after lifetime + skew', async () => {
    const gen = io();
    expect(await keysGenerateCommand({ name: 'requester' }, gen.io)).toBe(0);
    const v1 = (JSON.parse(gen.stdout.text()) as { kid: string }).kid;
    const now = Date.parse('2026-06-01T00:00:00Z');
    const rot = io();
    expect(await keysRotateCommand({ name: 'requester' }, rot.io, () => now)).toBe(0);
    const rotated = JSON.parse(rot.stdout.text()) as {
      kid: string;
      signsFrom: string;
      retired: { kid: string; at: string }[];
    };
    expect(rotated.kid).not.toBe(v1);
    expect(rotated.signsFrom).toBe('2026-06-01T00:00:05.000Z'); // published 5 s before it signs
    // 300 s max token lifetime + 30 s default skew after the new key signs.
    expect(rotated.retired).toEqual([{ kid: v1, at: '2026-06-01T00:05:35.000Z' }]);

    const jwks = io();
    expect(await keysJwksCommand({ name: 'requester' }, jwks.io)).toBe(0);
    const set = JSON.parse(jwks.stdout.text()) as {
      keys: { kid: string; nbf?: number; exp?: number }[];
    };
    expect(set.keys.map((k) => [k.kid, k.nbf, k.exp])).toEqual([
      [v1, undefined, now / 1000 + 335],
      [rotated.kid, now / 1000 + 5, undefined],
    ]);
  });

  it('refuses to rotate without a key history, or with a bad number of seconds', async () => {
    await expect(keysRotateCommand({ name: 'gateway' }, io().io)).rejects.toMatchObject({
      code: 'KEY_UNAVAILABLE',
    });
    expect(await keysGenerateCommand({ name: 'gateway' }, io().io)).toBe(0);
    await expect(
      keysRotateCommand({ name: 'gateway', activateAfter: '-1' }, io().io),
    ).rejects.toThrow(/--activate-after must be a whole number of seconds/);
  });

  it('prints the key set in aws mode from the trust configuration alone (the runbook command)', async () => {
    // The runbook's check after a rotation sets only the mode and the key set: nothing of the
    // pipeline (queues, tables, the other party's key) is needed to print public keys.
    expect(await keysGenerateCommand({ name: 'requester' }, io().io)).toBe(0);
    const local = io();
    expect(await keysJwksCommand({ name: 'requester' }, local.io)).toBe(0);
    const [key] = (JSON.parse(local.stdout.text()) as { keys: { kid: string }[] }).keys;
    const retiredAt = Date.parse('2026-06-01T00:05:35Z') / 1000;
    const t = io();
    const env = {
      COUNTERSIGN_DATA_DIR: dir,
      COUNTERSIGN_MODE: 'aws',
      COUNTERSIGN_REQUESTER_PUBLIC_KEYS: JSON.stringify([
        { jwks: { keys: [{ ...key, exp: retiredAt }] } },
      ]),
    };
    expect(await keysJwksCommand({ name: 'requester' }, { ...t.io, env })).toBe(0);
    const set = JSON.parse(t.stdout.text()) as { keys: { kid: string; exp?: number }[] };
    expect(set.keys.map((k) => [k.kid, k.exp])).toEqual([[key!.kid, retiredAt]]);
    // No key set and no KMS key: the command says what to set, not which queues are missing.
    await expect(
      keysJwksCommand({ name: 'gateway' }, { ...io().io, env: { COUNTERSIGN_MODE: 'aws' } }),
    ).rejects.toThrow(/^no keys configured for gateway: set COUNTERSIGN_GATEWAY_PUBLIC_KEYS/);
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
