// `countersign audit reconcile`: the exchange's own record of a period against the signed
// receipts and the nonce store (an order filled without a receipt, a receipt without an order,
// fills that differ, requests stuck IN_PROGRESS). Same exit codes and formats as `audit replay`:
// 0 clean, 3 findings, 2 bad arguments or configuration, 1 the reconciliation could not run.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import {
  ConfigError,
  embeddedPaths,
  systemClock,
  type Clock,
  type CountersignConfig,
} from '@countersign/contracts';
import { formatVerdict, type ExchangeOrderSource, type InProgressSource } from '@countersign/audit';
import { createPaperExchange } from '@countersign/exchange-gateway';
import { openSqliteNonceReader } from '@countersign/replay-guard';
import {
  AuditExitCodes,
  defaultIO,
  exitFor,
  exitTwoOnUsageError,
  failure,
  openRuntime,
  parseFormat,
  parseInstant,
  renderReport,
  type AuditCommandIO,
  type AuditExitCode,
} from './audit.ts';

export interface ReconcileCliOptions {
  readonly from?: string;
  readonly to?: string;
  readonly format?: string;
  readonly out?: string;
}

/** What a reconciliation reads besides the archive; closed by the command. */
export interface ReconcileSources {
  readonly exchange: ExchangeOrderSource;
  readonly nonces: InProgressSource;
  close(): Promise<void>;
}

export interface ReconcileCommandIO extends AuditCommandIO {
  /** Opens the exchange and the nonce store of the configuration (tests inject others). */
  readonly openSources: (config: CountersignConfig) => ReconcileSources;
  /** The default `--to`. */
  readonly clock: Clock;
}

/**
 * The embedded runtime's exchange (the paper exchange's SQLite file) and nonce store (read-only).
 * A missing file is an error, not an empty history: reconciling against nothing proves nothing.
 */
export function openEmbeddedReconcileSources(config: CountersignConfig): ReconcileSources {
  if (config.mode !== 'embedded') {
    throw new ConfigError([
      {
        path: 'COUNTERSIGN_MODE',
        message:
          'audit reconcile needs the embedded mode: in aws mode the paper exchange lives in each process and no exchange adapter lists its orders yet',
      },
    ]);
  }
  const paths = embeddedPaths(config.dataDir);
  for (const [what, file] of [
    ['exchange database', paths.exchangeDb],
    ['nonce store', paths.nonceDb],
  ] as const) {
    if (!existsSync(file)) {
      throw new ConfigError([
        {
          path: 'COUNTERSIGN_DATA_DIR',
          message: `no ${what} at ${file} (has a gateway run on this data directory?)`,
        },
      ]);
    }
  }
  const nonces = openSqliteNonceReader({ path: paths.nonceDb });
  const exchange = createPaperExchange({ path: paths.exchangeDb });
  return {
    exchange,
    nonces,
    async close() {
      await exchange.close();
      await nonces.close();
    },
  };
}

function defaultReconcileIO(): ReconcileCommandIO {
  return { ...defaultIO(), openSources: openEmbeddedReconcileSources, clock: systemClock };
}

/** `countersign audit reconcile`: returns the exit code. */
export async function auditReconcileCommand(
  options: ReconcileCliOptions,
  io: ReconcileCommandIO = defaultReconcileIO(),
  signal?: AbortSignal,
): Promise<AuditExitCode> {
  const prefix = 'countersign audit reconcile';
  // Default period: everything up to now.
  const from =
    options.from === undefined
      ? { ok: true as const, value: 0 }
      : parseInstant(options.from, 'from');
  const to =
    options.to === undefined
      ? { ok: true as const, value: io.clock.now() }
      : parseInstant(options.to, 'to');
  const format = parseFormat(options.format);
  const problems: string[] = [];
  for (const c of [from, to, format]) if (!c.ok) problems.push(c.problem);
  if (from.ok && to.ok && from.value >= to.value) problems.push('--from must be before --to');
  if (problems.length > 0 || !from.ok || !to.ok || !format.ok) {
    for (const p of problems) io.stderr.write(`${prefix}: ${p}\n`);
    return AuditExitCodes.BAD_ARGUMENTS;
  }
  const opened = openRuntime(io);
  if (typeof opened === 'number') return opened;
  const { config, runtime } = opened;
  let sources: ReconcileSources | undefined;
  try {
    sources = io.openSources(config);
    const report = await runtime.reconcile({
      from: from.value,
      to: to.value,
      exchange: sources.exchange,
      nonces: sources.nonces,
      ...(signal ? { signal } : {}),
    });
    const text = renderReport(report, format.value);
    if (options.out) {
      await io.writeFile(options.out, text);
      io.stderr.write(`${prefix}: ${formatVerdict(report)}; report written to ${options.out}\n`);
    } else {
      io.stdout.write(text);
    }
    return exitFor(report, runtime);
  } catch (err) {
    return failure(io, err);
  } finally {
    await sources?.close();
    await runtime.close();
  }
}

/** Adds `reconcile` under the `audit` command. */
export function registerReconcile(audit: Command, io?: Partial<ReconcileCommandIO>): void {
  audit
    .command('reconcile')
    .description(
      "compare the exchange's orders of a period with the receipts and the nonce store (embedded mode)",
    )
    .option(
      '--from <iso>',
      'orders placed and receipts issued from (ISO 8601, inclusive; default: the beginning)',
    )
    .option('--to <iso>', 'until (ISO 8601, exclusive; default: now)')
    .option('--format <format>', 'text | json | html', 'text')
    .option('--out <file>', 'write the report here instead of stdout')
    .exitOverride(exitTwoOnUsageError)
    .action(async (opts: ReconcileCliOptions) => {
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        process.exitCode = await auditReconcileCommand(
          opts,
          { ...defaultReconcileIO(), ...io },
          controller.signal,
        );
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
