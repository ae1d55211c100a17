// What the requester and keys commands share: their IO, configuration loading that turns a bad
// field into a usage error, and the runner that maps errors to exit codes (2 usage/config,
// 1 anything else).
import { CountersignError, isCountersignError, loadConfig } from '@countersign/contracts';
import type { CountersignConfig, FieldIssue, Part } from '@countersign/contracts';

export const CommandExitCodes = { OK: 0, FAILED: 1, BAD_ARGUMENTS: 2 } as const;

export interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface CommandIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: Output;
  readonly stderr: Output;
}

/** Bad arguments or configuration: printed as is, exit 2. */
export class UsageError extends CountersignError<'CONFIG_INVALID'> {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
    this.name = 'UsageError';
  }
}

export function loadConfigOr(io: CommandIO, part: Part): CountersignConfig {
  try {
    return loadConfig(io.env, part);
  } catch (err) {
    if (isCountersignError(err) && err.code === 'CONFIG_INVALID') {
      const issues = (err as { issues?: readonly FieldIssue[] }).issues ?? [];
      throw new UsageError(issues.map((i) => `config: ${i.path}: ${i.message}`).join('\n'));
    }
    throw err;
  }
}

/** Runs a command body; maps usage/config errors to exit 2 and other failures to exit 1. */
export async function runCommand(io: CommandIO, body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${err.message}\n`);
      process.exitCode = CommandExitCodes.BAD_ARGUMENTS;
      return;
    }
    const code = isCountersignError(err) ? `${err.code}: ` : '';
    io.stderr.write(`${code}${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = CommandExitCodes.FAILED;
  }
}
