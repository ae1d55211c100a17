// `countersign audit reconcile`: the exchange's own record of a period against the signed
// receipts and the nonce store (an order filled without a receipt, a receipt without an order,
// fills that differ, requests stuck IN_PROGRESS). Same exit codes and formats as `audit replay`:
// 0 clean, 3 findings, 2 bad arguments or configuration, 1 the reconciliation could not run.
import { existsSync } from 'node:fs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Command } from 'commander';
import {
  ConfigError,
  embeddedPaths,
  systemClock,
  type AuditReport,
  type Clock,
  type CountersignConfig,
} from '@countersign/contracts';
import {
  formatVerdict,
  type AuditRuntime,
  type ExchangeOrderSource,
  type InProgressSource,
} from '@countersign/audit';
import {
  createExchangeFromConfig,
  silentLogger,
  type Exchange,
} from '@countersign/exchange-gateway';
import { createKmsClient } from '@countersign/signing';
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
  readonly openSources: (config: CountersignConfig) => Promise<ReconcileSources>;
  /** The default `--to`. */
  readonly clock: Clock;
}

function requireFile(what: string, file: string): void {
  if (existsSync(file)) return;
  throw new ConfigError([
    {
      path: 'COUNTERSIGN_DATA_DIR',
      message: `no ${what} at ${file} (has a gateway run on this data directory?)`,
    },
  ]);
}

/**
 * The embedded runtime's nonce store (read-only) and its exchange: the paper exchange's SQLite
 * file, or the configured HTTP exchange through its list-orders call (the simulator of
 * `npm start -- --exchange sim`, credentials opened like the gateway's). A missing file is an
 * error, not an empty history: reconciling against nothing proves nothing.
 */
export async function openReconcileSources(config: CountersignConfig): Promise<ReconcileSources> {
  if (config.mode !== 'embedded') {
    throw new ConfigError([
      {
        path: 'COUNTERSIGN_MODE',
        message:
          'audit reconcile needs the embedded mode: in aws mode the paper exchange lives in each process, and the receipts are read from the embedded archive',
      },
    ]);
  }
  const paths = embeddedPaths(config.dataDir);
  requireFile('nonce store', paths.nonceDb);
  if (config.exchange.kind === 'paper') requireFile('exchange database', paths.exchangeDb);
  const nonces = openSqliteNonceReader({ path: paths.nonceDb });
  let exchange: Exchange;
  try {
    exchange = await createExchangeFromConfig({
      config,
      clock: systemClock,
      logger: silentLogger,
      clients: { kms: () => createKmsClient(), ssm: () => new SSMClient({}) },
    });
  } catch (err) {
    await nonces.close();
    throw err;
  }
  const listOrders = exchange.listOrders?.bind(exchange);
  if (!listOrders) {
    await Promise.all([nonces.close(), exchange.close?.()]);
    throw new ConfigError([
      { path: 'COUNTERSIGN_EXCHANGE', message: 'this exchange cannot list its orders' },
    ]);
  }
  return {
    exchange: { listOrders, getOrder: (id, signal) => exchange.getOrder(id, signal) },
    nonces,
    async close() {
      await exchange.close?.();
      await nonces.close();
    },
  };
}

/** Reconciles [from, to) with the sources of `config`, closing them after. */
export async function reconcileWith(
  config: CountersignConfig,
  runtime: AuditRuntime,
  range: { readonly from: number; readonly to: number; readonly signal?: AbortSignal },
  open: (config: CountersignConfig) => Promise<ReconcileSources> = openReconcileSources,
): Promise<AuditReport> {
  const sources = await open(config);
  try {
    return await runtime.reconcile({
      ...range,
      exchange: sources.exchange,
      nonces: sources.nonces,
    });
  } finally {
    await sources.close();
  }
}

function defaultReconcileIO(): ReconcileCommandIO {
  return { ...defaultIO(), openSources: openReconcileSources, clock: systemClock };
}

/** `countersign audit reconcile`: returns the exit code. */
export async function auditReconcileCommand(
  options: ReconcileCliOptions,
  io: ReconcileCommandIO = defaultReconcileIO(),
  signal?: AbortSignal,
): Promise<AuditExitCode> {
  const prefix = 'countersign audit reconcile';
  // Default period: everything up to now, this millisecond included (an order placed in the
  // same millisecond as the command starts is history too, not the future).
  const from = parseInstant(options.from, 'from');
  const to = parseInstant(options.to, 'to');
  const format = parseFormat(options.format);
  const problems: string[] = [];
  for (const c of [from, to, format]) if (!c.ok) problems.push(c.problem);
  if (problems.length > 0 || !from.ok || !to.ok || !format.ok) {
    for (const p of problems) io.stderr.write(`${prefix}: ${p}\n`);
    return AuditExitCodes.BAD_ARGUMENTS;
  }
  const period = { from: from.value ?? 0, to: to.value ?? io.clock.now() + 1 };
  if (period.from >= period.to) {
    io.stderr.write(`${prefix}: --from must be before --to\n`);
    return AuditExitCodes.BAD_ARGUMENTS;
  }
  const opened = openRuntime(io);
  if (typeof opened === 'number') return opened;
  const { config, runtime } = opened;
  try {
    const report = await reconcileWith(
      config,
      runtime,
      { ...period, ...(signal ? { signal } : {}) },
      io.openSources,
    );
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
    .option('--to <iso>', 'until (ISO 8601, exclusive; default: now, inclusive)')
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
