// `countersign start` (`npm start`): the whole pipeline in one process with a demo workload.
// The first run on a data directory writes its config.jsonc (as `countersign init` does), with
// the API key for your own requests kept in `<dataDir>/demo-api-key` (0600, never printed).
// Exit codes: 0 everything matched, 1 something did not, 2 bad configuration, 3 another process
// holds the data directory (another demo, or a gateway), 130 interrupted.
import type { Command } from 'commander';
import pino from 'pino';
import { isCountersignError, loadConfig, systemClock } from '@countersign/contracts';
import { ensureDataDirConfig } from '../init/init-data-dir.ts';
import { startTracingFromConfig } from '@countersign/observability/sdk';
import { DemoExchangeKinds, type DemoExchangeKind } from '../demo/demo-exchange.ts';
import { runDemo, type DemoSummary } from '../demo/run-demo.ts';
import { renderSummary } from '../demo/render.ts';
import { configFailure } from '../config-errors.ts';
import { UsageError } from '../command-run.ts';

export interface StartOptions {
  readonly count: string;
  readonly concurrency: string;
  readonly json?: boolean;
  readonly keepRunning?: boolean;
  readonly badApples: boolean;
  readonly gatewayProcess?: boolean;
  readonly exchange: string;
  readonly simFaultRate?: string;
  readonly simSeed?: string;
}

function exchangeKind(value: string): DemoExchangeKind {
  const kind = DemoExchangeKinds.find((k) => k === value);
  if (!kind)
    throw new UsageError(
      `--exchange must be ${DemoExchangeKinds.join(' or ')}, got "${value.slice(0, 20)}"`,
    );
  return kind;
}

function rate(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1))
    throw new UsageError(`${flag} must be from 0 to 1`);
  return n;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a positive integer, got "${value.slice(0, 20)}"`);
  return n;
}

export async function startCommand(opts: StartOptions): Promise<number> {
  let count: number;
  let concurrency: number;
  let exchange: DemoExchangeKind;
  let faultRate: number | undefined;
  let seed: number | undefined;
  try {
    count = positiveInt(opts.count, '--count');
    concurrency = positiveInt(opts.concurrency, '--concurrency');
    exchange = exchangeKind(opts.exchange);
    faultRate = rate(opts.simFaultRate, '--sim-fault-rate');
    seed = opts.simSeed === undefined ? undefined : positiveInt(opts.simSeed, '--sim-seed');
    if ((faultRate !== undefined || seed !== undefined) && exchange !== 'sim')
      throw new UsageError('--sim-fault-rate and --sim-seed need --exchange sim');
  } catch (err) {
    process.stderr.write(`countersign start: ${(err as Error).message}\n`);
    return 2;
  }
  let config;
  const env = process.env; // `--data-dir` is applied as COUNTERSIGN_DATA_DIR (main.ts)
  try {
    const created = await ensureDataDirConfig(env, systemClock);
    if (created) {
      process.stderr.write(
        `first run on ${created.config.dataDir}: wrote ${created.file} (see \`countersign init\`); ` +
          `the API key for your own requests is in ${created.keyFile ?? '(not kept)'} (0600)\n`,
      );
    }
    config = loadConfig(env, 'all');
  } catch (err) {
    return configFailure('countersign start', err);
  }
  const interrupt = new AbortController();
  // The listener stays until the summary is printed: a second signal (an impatient Ctrl-C, or
  // one a launcher forwards) must not end the process halfway through its shutdown.
  const onSignal = () => {
    process.stderr.write(
      interrupt.signal.aborted
        ? '\nstill stopping: finishing in-flight messages, then the summary\n'
        : '\nstopping: finishing in-flight messages (run again to continue where this stopped)\n',
    );
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tty = process.stderr.isTTY && !opts.json;
  // COUNTERSIGN_TRACING=console|otlp: one trace per order, from the HTTP call to the audit.
  const tracing = startTracingFromConfig(config.observability, 'countersign');
  let summary: DemoSummary;
  try {
    summary = await runDemo({
      config,
      count,
      concurrency,
      signal: interrupt.signal,
      keepRunning: opts.keepRunning ?? false,
      badApples: opts.badApples,
      gatewayProcess: opts.gatewayProcess ?? false,
      exchange,
      sim: {
        ...(faultRate === undefined ? {} : { faultRate }),
        ...(seed === undefined ? {} : { seed }),
      },
      // The demo logs warnings only, unless COUNTERSIGN_LOG_LEVEL asks for something else.
      ...(process.env.COUNTERSIGN_LOG_LEVEL
        ? { logger: pino({ level: config.logLevel }, pino.destination(2)) }
        : {}),
      log: (line) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`),
      onProgress: tty
        ? (p) =>
            process.stderr.write(
              `\r\x1b[Ksubmitted ${p.submitted}/${p.total}  receipted ${p.receipted}`,
            )
        : undefined,
    });
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!isCountersignError(err) || err.code !== 'LOCKED') throw err;
    process.stderr.write(`countersign start: ${err.message}\n`);
    return 3;
  } finally {
    await tracing?.shutdown();
  }
  if (tty) process.stderr.write('\n');
  if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(renderSummary(summary));
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (summary.interrupted) return 130;
  return summary.ok ? 0 : 1;
}

export function register(program: Command): void {
  program
    .command('start')
    .description(
      'run requester API, gateway and live audit in one process and push a demo workload through them',
    )
    .option('--count <n>', 'demo orders to submit through the HTTP API', '2000')
    .option('--concurrency <n>', 'HTTP requests in flight', '16')
    .option('--json', 'print the final summary as one JSON object on stdout (and nothing else)')
    .option(
      '--keep-running',
      'leave the API, gateway and audit running after the summary (Ctrl-C stops)',
    )
    .option('--no-bad-apples', 'skip the deliberately bad tokens')
    .option(
      '--exchange <kind>',
      'paper (in process) or sim: HttpExchange against a local exchange simulator',
      'paper',
    )
    .option(
      '--sim-fault-rate <0..1>',
      'with --exchange sim: share of exchange requests failed (5xx, reset, no answer)',
    )
    .option('--sim-seed <n>', 'with --exchange sim: seed of those faults (same seed, same faults)')
    .option(
      '--gateway-process',
      'run the gateway worker as a separate process (countersign gateway) so it gets a core of its own',
    )
    .action(async (opts: StartOptions) => {
      process.exitCode = await startCommand(opts);
    });
}
