// `countersign gateway recover-head [--apply]`: restores the receipt chain heads a lost or
// emptied nonce store forgot (issue 13 F4), from the newest verified checkpoint of each stream
// and the archive's receipts that chain onto it. A dry run by default; refuses when the
// checkpoint and the archive disagree. Exit codes: 0 done (or nothing to do), 1 refused or
// failed, 2 bad configuration.
import type { Command } from 'commander';
import { isCountersignError, loadConfig } from '@countersign/contracts';
import { recoverHeadsFromConfig, type RecoveryResult } from '@countersign/exchange-gateway';
import type { CountersignConfig } from '@countersign/contracts';
import { configFailure } from '../config-errors.ts';

export interface RecoverHeadOptions {
  readonly apply?: boolean;
}

export interface RecoverHeadIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly recover: (
    config: CountersignConfig,
    options: { readonly apply: boolean },
  ) => Promise<RecoveryResult>;
}

export async function recoverHeadCommand(
  opts: RecoverHeadOptions,
  io: RecoverHeadIO,
): Promise<number> {
  let config: CountersignConfig;
  try {
    config = loadConfig(io.env, 'gateway');
  } catch (err) {
    return configFailure('countersign gateway recover-head', err, io.stderr);
  }
  const apply = opts.apply === true;
  let result: RecoveryResult;
  try {
    result = await io.recover(config, { apply });
  } catch (err) {
    if (isCountersignError(err) && err.code === 'CONFIG_INVALID') {
      return configFailure('countersign gateway recover-head', err, io.stderr);
    }
    const code = isCountersignError(err) ? `${err.code}: ` : '';
    io.stderr.write(
      `countersign gateway recover-head: ${code}${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  }
  for (const s of result.plan) io.stdout.write(`${s.stream}: ${s.status}: ${s.message}\n`);
  const refused = result.plan.filter((s) => s.status === 'refused');
  const pending = result.plan.filter((s) => s.status === 'restore');
  if (refused.length > 0) {
    io.stderr.write(
      'countersign gateway recover-head: the checkpoint and the archive disagree for ' +
        `${refused.map((s) => s.stream).join(', ')}; nothing was written. Audit the archive ` +
        '(`countersign audit replay`) before deciding which history is true.\n',
    );
    return 1;
  }
  const records = apply
    ? `restored ${result.recordsRestored} of the ${result.records} nonce record(s) the archive's receipts imply`
    : `${result.records} nonce record(s) can be rebuilt from the archive's receipts`;
  if (pending.length === 0) {
    io.stdout.write(
      `every chain head agrees with its newest checkpoint: nothing to restore; ${records}\n`,
    );
    return 0;
  }
  if (!apply) {
    io.stdout.write(
      `dry run: run again with --apply to restore ${pending.length} head(s); ${records}\n`,
    );
    return 0;
  }
  io.stdout.write(
    `restored ${result.restored} head(s); ${records}: a message still on the queue gets its ` +
      'receipt republished, not a second execution.\n',
  );
  return 0;
}

/** Adds `recover-head` under the `gateway` command. */
export function registerRecoverHead(gateway: Command, io?: Partial<RecoverHeadIO>): void {
  gateway
    .command('recover-head')
    .description(
      'restore chain heads and nonce records a lost nonce store forgot, from the newest checkpoint and the archive (dry run unless --apply)',
    )
    .option('--apply', 'write the restored heads (default: only show them)')
    .action(async (opts: RecoverHeadOptions) => {
      process.exitCode = await recoverHeadCommand(opts, {
        env: process.env,
        stdout: process.stdout,
        stderr: process.stderr,
        recover: (config, o) => recoverHeadsFromConfig(config, o),
        ...io,
      });
    });
}
