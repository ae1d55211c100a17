// `countersign audit live|replay`: the audit service from the command line.
// Exit codes (usable from cron or CI): 0 clean, 3 integrity findings, 2 bad arguments or
// configuration, 1 when the audit itself could not run (unreadable archive, failed replay),
// 4 `audit live` on a data directory where another `audit live` runs (3 is taken: findings).
import { writeFile } from 'node:fs/promises';
import { Command, type CommanderError } from 'commander';
import cliProgress from 'cli-progress';
import { acquireRoleLock, type RoleLock } from '@countersign/sqlite';
import { configFailure } from '../config-errors.ts';
import { registerReconcile } from './audit-reconcile.ts';
import {
  isCountersignError,
  loadConfig,
  type AuditReport,
  type CountersignConfig,
} from '@countersign/contracts';
import {
  createAuditFromConfig,
  formatFinding,
  renderHtml,
  renderText,
  type AuditOverrides,
  type AuditRuntime,
} from '@countersign/audit';
import { startProcessMetrics } from '@countersign/observability';
import { startTracingFromConfig } from '@countersign/observability/sdk';

export const AuditExitCodes = {
  CLEAN: 0,
  FAILED: 1,
  BAD_ARGUMENTS: 2,
  FINDINGS: 3,
  LOCKED: 4,
} as const;
export type AuditExitCode = (typeof AuditExitCodes)[keyof typeof AuditExitCodes];

export const ReportFormats = ['text', 'json', 'html'] as const;
export type ReportFormat = (typeof ReportFormats)[number];

interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface AuditCommandIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: Output;
  readonly stderr: Output;
  /** Builds the runtime from validated config (tests inject adapters here). */
  readonly createRuntime: (
    config: CountersignConfig,
    overrides?: Pick<AuditOverrides, 'metrics'>,
  ) => AuditRuntime;
  readonly writeFile: (path: string, data: string) => Promise<void>;
}

export interface ReplayCliOptions {
  readonly from?: string;
  readonly to?: string;
  readonly gateway?: string;
  readonly format?: string;
  readonly out?: string;
  readonly state?: string;
}

export interface LiveCliOptions {
  readonly format?: string;
  readonly state?: string;
}

export function defaultIO(): AuditCommandIO {
  return {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    createRuntime: (config, overrides) => createAuditFromConfig(config, overrides),
    writeFile: (path, data) => writeFile(path, data, 'utf8'),
  };
}

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

export function parseInstant(value: string | undefined, name: string): Checked<number | undefined> {
  if (value === undefined) return { ok: true, value: undefined };
  const ms = Date.parse(value);
  if (!ISO.test(value) || Number.isNaN(ms)) {
    return {
      ok: false,
      problem: `--${name} must be an ISO 8601 date or time, got "${value.slice(0, 40)}"`,
    };
  }
  return { ok: true, value: ms };
}

export type Checked<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

export function parseFormat(value: string | undefined): Checked<ReportFormat> {
  const f = value ?? 'text';
  const known = ReportFormats.find((x) => x === f);
  return known
    ? { ok: true, value: known }
    : {
        ok: false,
        problem: `--format must be one of ${ReportFormats.join(', ')}, got "${f.slice(0, 20)}"`,
      };
}

export function renderReport(report: AuditReport, format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'html') return renderHtml(report);
  return renderText(report);
}

export function failure(io: AuditCommandIO, err: unknown): AuditExitCode {
  if (isCountersignError(err) && err.code === 'CONFIG_INVALID') {
    return configFailure('countersign audit', err, io.stderr) as AuditExitCode;
  }
  const code = isCountersignError(err) ? `${err.code}: ` : '';
  io.stderr.write(
    `countersign audit: ${code}${err instanceof Error ? err.message : String(err)}\n`,
  );
  return AuditExitCodes.FAILED;
}

/** Loads the configuration; an exit code when it fails. */
function openConfig(io: AuditCommandIO): CountersignConfig | AuditExitCode {
  try {
    return loadConfig(io.env, 'audit');
  } catch (err) {
    configFailure('countersign audit', err, io.stderr);
    return AuditExitCodes.BAD_ARGUMENTS;
  }
}

/** Loads the configuration and builds the runtime; an exit code when either fails. */
export function openRuntime(
  io: AuditCommandIO,
): { readonly config: CountersignConfig; readonly runtime: AuditRuntime } | AuditExitCode {
  const config = openConfig(io);
  if (typeof config === 'number') return config;
  try {
    return { config, runtime: io.createRuntime(config) };
  } catch (err) {
    return failure(io, err);
  }
}

/** A state that cannot be saved (a full disk) is retried; each failure is one stderr line. */
function stateErrorPrinter(io: AuditCommandIO) {
  return (err: unknown, attempt: number, retryInMs: number) => {
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(
      `countersign audit: ${message} (attempt ${attempt}${retryInMs > 0 ? `, retrying in ${retryInMs} ms` : ', giving up'})\n`,
    );
  };
}

export function exitFor(report: AuditReport, runtime: AuditRuntime): AuditExitCode {
  return report.clean || !runtime.failOnFindings ? AuditExitCodes.CLEAN : AuditExitCodes.FINDINGS;
}

/** `countersign audit replay`: returns the exit code. */
export async function auditReplayCommand(
  options: ReplayCliOptions,
  io: AuditCommandIO = defaultIO(),
  signal?: AbortSignal,
): Promise<AuditExitCode> {
  const from = parseInstant(options.from, 'from');
  const to = parseInstant(options.to, 'to');
  const format = parseFormat(options.format);
  const problems: string[] = [];
  for (const c of [from, to, format]) if (!c.ok) problems.push(c.problem);
  if (from.ok && to.ok && from.value !== undefined && to.value !== undefined) {
    if (from.value >= to.value) problems.push('--from must be before --to');
  }
  if (options.state !== undefined && options.state.trim() === '') {
    problems.push('--state must name a file');
  }
  if (options.gateway !== undefined && !/^[A-Za-z0-9._:-]{1,64}$/.test(options.gateway)) {
    problems.push('--gateway must match [A-Za-z0-9._:-]{1,64}');
  }
  if (problems.length > 0 || !from.ok || !to.ok || !format.ok) {
    for (const p of problems) io.stderr.write(`countersign audit replay: ${p}\n`);
    return AuditExitCodes.BAD_ARGUMENTS;
  }
  const opened = openRuntime(io);
  if (typeof opened === 'number') return opened;
  const { runtime } = opened;
  // A progress bar only for a human watching a terminal; never in pipes, files or CI logs.
  const bar = io.stderr.isTTY
    ? new cliProgress.SingleBar(
        {
          format: 'audit replay {value} events | {findings} findings | {duration_formatted}',
          stream: io.stderr as NodeJS.WritableStream,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let findings = 0;
  bar?.start(Number.MAX_SAFE_INTEGER, 0, { findings });
  try {
    const report = await runtime.replay({
      ...(from.value === undefined ? {} : { from: from.value }),
      ...(to.value === undefined ? {} : { to: to.value }),
      ...(options.gateway !== undefined ? { gateway: options.gateway } : {}),
      ...(options.state ? { stateFile: options.state } : {}),
      onFinding: () => void findings++,
      onProgress: (n) => bar?.update(n, { findings }),
      onStateError: stateErrorPrinter(io),
      ...(signal ? { signal } : {}),
    });
    bar?.stop();
    const text = renderReport(report, format.value);
    if (options.out) await io.writeFile(options.out, text);
    else io.stdout.write(text);
    if (options.out) {
      io.stderr.write(
        `countersign audit: ${report.clean ? 'clean' : `${report.findings.length + report.findingsOmitted} findings`}, report written to ${options.out}\n`,
      );
    }
    if (report.memory && report.memory.saved === null) {
      io.stderr.write(
        `countersign audit: warning: the state ${report.memory.file} was not saved\n`,
      );
    }
    return exitFor(report, runtime);
  } catch (err) {
    bar?.stop();
    return failure(io, err);
  } finally {
    await runtime.close();
  }
}

/** `countersign audit live`: runs until the signal aborts (SIGINT/SIGTERM), then summarizes. */
export async function auditLiveCommand(
  options: LiveCliOptions,
  signal: AbortSignal,
  io: AuditCommandIO = defaultIO(),
): Promise<AuditExitCode> {
  const format = parseFormat(options.format);
  if (!format.ok) {
    io.stderr.write(`countersign audit live: ${format.problem}\n`);
    return AuditExitCodes.BAD_ARGUMENTS;
  }
  const config = openConfig(io);
  if (typeof config === 'number') return config;
  // Embedded: one live audit per data directory. Two would share the bus cursor and the state
  // file, each seeing part of the receipts and reporting gaps that are not there.
  let lock: RoleLock | undefined;
  if (config.mode === 'embedded') {
    try {
      lock = acquireRoleLock(config.dataDir, 'audit-live');
    } catch (err) {
      if (!isCountersignError(err) || err.code !== 'LOCKED') return failure(io, err);
      io.stderr.write(`countersign audit live: ${err.message}\n`);
      return AuditExitCodes.LOCKED;
    }
  }
  // A long-running process, so a composition root like the gateway's: the OpenTelemetry SDK
  // when COUNTERSIGN_TRACING asks for it, GET /metrics when COUNTERSIGN_METRICS_PORT is set.
  const tracing = startTracingFromConfig(config.observability, 'countersign-audit');
  let runtime: AuditRuntime | undefined;
  let metricsServer: Awaited<ReturnType<typeof startProcessMetrics>>['server'];
  try {
    const observed = await startProcessMetrics(config.observability, 'audit');
    metricsServer = observed.server;
    if (metricsServer) io.stderr.write(`countersign audit: metrics on ${metricsServer.url}\n`);
    runtime = io.createRuntime(config, { metrics: observed.metrics });
    io.stderr.write(`countersign audit: live (${config.mode}), stop with Ctrl-C\n`);
    const report = await runtime.live({
      signal,
      ...(options.state ? { stateFile: options.state } : {}),
      onFinding: (f) => io.stdout.write(`${formatFinding(f)}\n`),
      onStateError: stateErrorPrinter(io),
    });
    io.stdout.write(renderReport(report, format.value));
    return exitFor(report, runtime);
  } catch (err) {
    return failure(io, err);
  } finally {
    await runtime?.close();
    await metricsServer?.close();
    await tracing?.shutdown();
    lock?.release();
  }
}

/** Bad arguments from commander itself (unknown option, missing value) exit 2, help exits 0. */
export function exitTwoOnUsageError(err: CommanderError): never {
  process.exit(err.exitCode === 0 ? 0 : AuditExitCodes.BAD_ARGUMENTS);
}

export function register(program: Command, io?: Partial<AuditCommandIO>): void {
  const resolved = (): AuditCommandIO => ({ ...defaultIO(), ...io });
  const audit = program
    .command('audit')
    .description('verify every receipt and the request inside, check the chains, report');

  audit
    .command('replay')
    .description(
      'audit the archive, or a time window of it (embedded SQLite, or EventBridge in aws mode)',
    )
    .option('--from <iso>', 'start of a window (ISO 8601, inclusive; default: the whole archive)')
    .option('--to <iso>', 'end of a window (ISO 8601, exclusive; default: now)')
    .option('--gateway <id>', 'only this gateway (must be a trusted one)')
    .option(
      '--state <file>',
      'what the audit remembers between runs (default <dataDir>/audit-state.json)',
    )
    .option('--format <format>', 'text | json | html', 'text')
    .option('--out <file>', 'write the report here instead of stdout')
    .exitOverride(exitTwoOnUsageError)
    .action(async (opts: ReplayCliOptions) => {
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        process.exitCode = await auditReplayCommand(opts, resolved(), controller.signal);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  audit
    .command('live')
    .description('audit receipts as they arrive until SIGINT/SIGTERM, then print the summary')
    .option('--format <format>', 'summary format: text | json | html', 'text')
    .option(
      '--state <file>',
      'what the audit remembers between runs (default <dataDir>/audit-state.json)',
    )
    .exitOverride(exitTwoOnUsageError)
    .action(async (opts: LiveCliOptions) => {
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        process.exitCode = await auditLiveCommand(opts, controller.signal, resolved());
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  registerReconcile(audit, io);
}

/** For tests: a program with only the audit commands. */
export function createAuditProgram(io?: Partial<AuditCommandIO>): Command {
  const program = new Command('countersign');
  register(program, io);
  return program;
}
