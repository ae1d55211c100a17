import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { GENESIS_PREV } from '@countersign/contracts';
import { recoverHeadsFromConfig, type RecoveryResult } from '@countersign/exchange-gateway';
import { recoverHeadCommand, type RecoverHeadIO } from './recover-head.ts';
import { register } from './gateway.ts';

const head = (seq: number) => ({ stream: 'gw/0', seq, hash: GENESIS_PREV });

function io(result: RecoveryResult | Error, env: Record<string, string> = {}) {
  const out = { stdout: '', stderr: '', applied: [] as boolean[] };
  const value: RecoverHeadIO = {
    env,
    stdout: { write: (t: string) => (out.stdout += t) },
    stderr: { write: (t: string) => (out.stderr += t) },
    recover: (_config, o) => {
      out.applied.push(o.apply);
      return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
    },
  };
  return { io: value, out };
}

const restore: RecoveryResult = {
  restored: 0,
  records: 3,
  recordsRestored: 0,
  plan: [
    {
      stream: 'gw/0',
      current: head(0),
      checkpoint: { index: 2, seq: 10, head: GENESIS_PREV },
      status: 'restore',
      restore: head(12),
      message: 'restore seq 12 (checkpoint #2 at seq 10, then 2 archived receipts)',
    },
  ],
};

describe('countersign gateway recover-head', () => {
  it('is a dry run unless --apply, then restores the heads and the nonce records', async () => {
    const dry = io(restore);
    expect(await recoverHeadCommand({}, dry.io)).toBe(0);
    expect(dry.out.applied).toEqual([false]);
    expect(dry.out.stdout).toBe(
      'gw/0: restore: restore seq 12 (checkpoint #2 at seq 10, then 2 archived receipts)\n' +
        "dry run: run again with --apply to restore 1 head(s); 3 nonce record(s) can be rebuilt from the archive's receipts\n",
    );
    const applied = io({ ...restore, restored: 1, recordsRestored: 3 });
    expect(await recoverHeadCommand({ apply: true }, applied.io)).toBe(0);
    expect(applied.out.stdout).toContain(
      "restored 1 head(s); restored 3 of the 3 nonce record(s) the archive's receipts imply",
    );
  });

  it('exits 1 when the checkpoint and the archive disagree, 2 on bad configuration', async () => {
    const refused = io({
      restored: 0,
      records: 0,
      recordsRestored: 0,
      plan: [{ ...restore.plan[0]!, status: 'refused', restore: null, message: 'gap' }],
    });
    expect(await recoverHeadCommand({ apply: true }, refused.io)).toBe(1);
    expect(refused.out.stderr).toContain('disagree for gw/0; nothing was written');
    const bad = io(restore, { COUNTERSIGN_MODE: 'cloud' });
    expect(await recoverHeadCommand({}, bad.io)).toBe(2);
    expect(bad.out.stderr).toContain('COUNTERSIGN_MODE');
    // In aws mode the archive cannot be read back: a configuration answer, with the way out.
    const aws = io(restore, {
      COUNTERSIGN_MODE: 'aws',
      COUNTERSIGN_GATEWAY_KMS_KEY_ID: 'k',
      COUNTERSIGN_QUEUE_URL: 'https://q.example/1',
      COUNTERSIGN_NONCE_TABLE: 't',
    });
    expect(
      await recoverHeadCommand({}, { ...aws.io, recover: (c, o) => recoverHeadsFromConfig(c, o) }),
    ).toBe(2);
    expect(aws.out.stderr).toContain('point-in-time recovery');
  });

  it('is registered under `countersign gateway`', () => {
    const program = new Command().exitOverride();
    register(program, {
      run: () => Promise.reject(new Error('the worker must not start')),
      stderr: { write: () => true },
    });
    const gateway = program.commands.find((c) => c.name() === 'gateway')!;
    expect(gateway.commands.map((c) => c.name())).toEqual(['recover-head']);
    expect(gateway.commands[0]!.options.map((o) => o.long)).toEqual(['--apply']);
  });
});
