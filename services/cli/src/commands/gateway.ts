// `countersign gateway`: runs the exchange-gateway worker until SIGINT/SIGTERM, then finishes
// in-flight messages, writes final checkpoints and prints its counters.
// Exit codes: 0 stopped cleanly, 2 bad configuration, 3 another gateway process holds the data
// directory (embedded mode), 1 could not run.
import type { Command } from 'commander';
import { isCountersignError } from '@countersign/contracts';
import { configFailure } from '../config-errors.ts';
import { registerRecoverHead } from './recover-head.ts';
import {
  runGateway,
  type RunGatewayOptions,
  type WorkerCounters,
} from '@countersign/exchange-gateway';

export const GatewayExitCodes = { OK: 0, FAILED: 1, BAD_CONFIG: 2, LOCKED: 3 } as const;

export interface GatewayCliOptions {
  readonly concurrency?: string;
  readonly partitions?: string;
  readonly gatewayId?: string;
}

export interface GatewayCommandIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stderr: { write(text: string): unknown };
  readonly run: (options: RunGatewayOptions) => Promise<WorkerCounters>;
}

/** CLI flags win over env (they are applied as the matching COUNTERSIGN_* variables). */
export function gatewayEnv(
  env: Readonly<Record<string, string | undefined>>,
  opts: GatewayCliOptions,
): Record<string, string | undefined> {
  return {
    ...env,
    ...(opts.concurrency ? { COUNTERSIGN_CONCURRENCY: opts.concurrency } : {}),
    ...(opts.partitions ? { COUNTERSIGN_PARTITIONS: opts.partitions } : {}),
    ...(opts.gatewayId ? { COUNTERSIGN_GATEWAY_ID: opts.gatewayId } : {}),
  };
}

export async function gatewayCommand(
  opts: GatewayCliOptions,
  io: GatewayCommandIO,
): Promise<number> {
  try {
    const counters = await io.run({ env: gatewayEnv(io.env, opts) });
    io.stderr.write(
      `gateway stopped: ${counters.received} received, ${counters.deleted} done ` +
        `(${counters.outcomes.EXECUTED} executed, ${counters.outcomes.REJECTED} rejected, ` +
        `${counters.outcomes.FAILED} failed, ${counters.outcomes.UNKNOWN} unknown), ${counters.left} left for later\n`,
    );
    return GatewayExitCodes.OK;
  } catch (err) {
    if (isCountersignError(err) && err.code === 'CONFIG_INVALID') {
      return configFailure('countersign gateway', err, io.stderr);
    }
    if (isCountersignError(err) && err.code === 'LOCKED') {
      io.stderr.write(`countersign gateway: ${err.message}\n`);
      return GatewayExitCodes.LOCKED;
    }
    io.stderr.write(`gateway failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return GatewayExitCodes.FAILED;
  }
}

export function register(program: Command, io?: Partial<GatewayCommandIO>): void {
  const gateway = program
    .command('gateway')
    .description(
      'run the exchange gateway: verify, execute once, sign receipts (until SIGINT/SIGTERM)',
    )
    .option('--concurrency <n>', 'messages handled at once (COUNTERSIGN_CONCURRENCY)')
    .option('--partitions <n>', 'receipt streams (COUNTERSIGN_PARTITIONS)')
    .option('--gateway-id <id>', 'gateway id (COUNTERSIGN_GATEWAY_ID)')
    .action(async (opts: GatewayCliOptions) => {
      process.exitCode = await gatewayCommand(opts, {
        env: process.env,
        stderr: process.stderr,
        run: runGateway,
        ...io,
      });
    });
  registerRecoverHead(gateway);
}
