import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { ConfigError } from '@countersign/contracts';
import { runGateway } from '@countersign/exchange-gateway';
import type { RunGatewayOptions, WorkerCounters } from '@countersign/exchange-gateway';
import { gatewayCommand, gatewayEnv, register } from './gateway.ts';

const counters: WorkerCounters = {
  received: 3,
  deleted: 3,
  left: 0,
  failed: 0,
  skipped: 0,
  republished: 0,
  heartbeats: 0,
  receiveErrors: 0,
  deleteErrors: 0,
  reconciled: 0,
  outcomes: { EXECUTED: 2, REJECTED: 1, FAILED: 0, UNKNOWN: 0 },
};

describe('countersign gateway', () => {
  it('flags override env', () => {
    expect(
      gatewayEnv({ COUNTERSIGN_CONCURRENCY: '2', X: 'y' }, { concurrency: '8', partitions: '4' }),
    ).toEqual({
      COUNTERSIGN_CONCURRENCY: '8',
      COUNTERSIGN_PARTITIONS: '4',
      X: 'y',
    });
  });

  it('runs the worker through commander and prints the counters', async () => {
    let seen: RunGatewayOptions | undefined;
    let err = '';
    const program = new Command().exitOverride();
    register(program, {
      env: { COUNTERSIGN_GATEWAY_ID: 'g1' },
      stderr: { write: (t: string) => (err += t) },
      run: (o) => {
        seen = o;
        return Promise.resolve(counters);
      },
    });
    await program.parseAsync(['node', 'countersign', 'gateway', '--concurrency', '3']);
    expect(seen?.env).toMatchObject({ COUNTERSIGN_GATEWAY_ID: 'g1', COUNTERSIGN_CONCURRENCY: '3' });
    expect(err).toContain('2 executed, 1 rejected');
    expect(process.exitCode).toBe(0);
    process.exitCode = 0;
  });

  it('bad configuration exits 2 with the message', async () => {
    let err = '';
    const code = await gatewayCommand(
      {},
      {
        env: {},
        stderr: { write: (t: string) => (err += t) },
        run: () =>
          Promise.reject(
            new ConfigError([{ path: 'COUNTERSIGN_CONCURRENCY', message: 'must be positive' }]),
          ),
      },
    );
    expect(code).toBe(2);
    expect(err).toBe('countersign gateway: COUNTERSIGN_CONCURRENCY: must be positive\n');
  });

  it('a second gateway on the same data directory exits 3 at once, naming the holder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-gw-lock-'));
    const env = { COUNTERSIGN_DATA_DIR: dir, COUNTERSIGN_LOG_LEVEL: 'silent' };
    const stop = new AbortController();
    // The role lock is taken synchronously, before runGateway's first await.
    const first = runGateway({ env, signal: stop.signal });
    let err = '';
    const code = await gatewayCommand(
      {},
      { env, stderr: { write: (t: string) => (err += t) }, run: runGateway },
    );
    expect(code).toBe(3);
    expect(err).toContain('countersign gateway: another process holds the gateway role of');
    expect(err).toContain(`pid ${process.pid}`);
    stop.abort();
    await expect(first).resolves.toMatchObject({ received: 0 });
    // Released on a clean stop: the next gateway starts.
    const again = new AbortController();
    const next = runGateway({ env, signal: again.signal });
    again.abort();
    await expect(next).resolves.toMatchObject({ received: 0 });
  });
});
