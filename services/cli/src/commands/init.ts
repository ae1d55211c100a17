// `countersign init [--data-dir DIR] [--force]`: prepares a data directory for every part
// (keys, an API key, a commented config.jsonc). The API key goes to stdout, once, alone on its
// line (`KEY=$(countersign init)` works); what was written goes to stderr.
// Exit codes: 0 written, 1 the file exists (without --force) or could not be written,
// 2 bad configuration or aws mode.
import type { Command } from 'commander';
import { systemClock, type Clock } from '@countersign/contracts';
import { CommandExitCodes, runCommand, UsageError, type CommandIO } from '../command-run.ts';
import { configFailure } from '../config-errors.ts';
import { InitError, initDataDir } from '../init/init-data-dir.ts';

export interface InitCommandIO extends CommandIO {
  readonly clock: Clock;
}

export async function initCommand(opts: { force?: boolean }, io: InitCommandIO): Promise<number> {
  let result;
  try {
    result = await initDataDir({ env: io.env, clock: io.clock, force: opts.force ?? false });
  } catch (err) {
    if (err instanceof InitError) {
      if (err.reason === 'AWS_MODE') throw new UsageError(`countersign init: ${err.message}`);
      io.stderr.write(`countersign init: ${err.message}\n`);
      return CommandExitCodes.FAILED;
    }
    return configFailure('countersign init', err, io.stderr);
  }
  const { config, file, backup } = result;
  const policy = config.gateway.policies.find((p) => p.id === config.requester.id);
  io.stderr.write(
    [
      ...(backup ? [`kept the old configuration as ${backup} (its API keys no longer work)`] : []),
      `wrote ${file}: requester ${config.requester.id}, gateway ${config.gateway.id}` +
        `${policy ? `, a policy for ${policy.id} (accounts ${policy.accounts.join(', ')})` : ''}`,
      `signing keys in ${config.dataDir}/keys (0600); the gateway trusts the requester's JWKS file`,
      'the API key of the HTTP API follows; it is shown this once (the file keeps only its SHA-256):',
      '',
    ].join('\n'),
  );
  io.stdout.write(`${result.apiKey}\n`);
  return CommandExitCodes.OK;
}

export function register(program: Command, overrides: Partial<InitCommandIO> = {}): void {
  const io = (): InitCommandIO => ({
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    clock: systemClock,
    ...overrides,
  });
  program
    .command('init')
    .description(
      'write <dataDir>/config.jsonc (ids, an API key, a policy, every default explained) and the signing keys',
    )
    .option('--force', 'replace an existing config.jsonc (the old one is kept as a .bak)')
    .action((opts: { force?: boolean }) => runCommand(io(), () => initCommand(opts, io())));
}
