// `countersign exchange credentials seal|check` and `countersign exchange-sim`.
// Credentials are read from stdin or a no-echo prompt, never from argv; the sealed blob goes to
// a file (0600) or an SSM parameter. The simulator serves the exchange API locally.
// Exit codes: 0 done, 1 failed, 2 bad arguments or configuration.
import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  embeddedPaths,
  isCountersignError,
  loadConfig,
  type CountersignConfig,
} from '@countersign/contracts';
import {
  credentialsContext,
  credentialsLocationFromConfig,
  dataKeysFromConfig,
  describeLocation,
  loadExchangeCredentials,
  parseCredentialsLocation,
  sealCredentials,
  silentLogger,
  startExchangeSimulator,
  writeSealedCredentials,
  type ExchangeSimulator,
  type SimulatorOptions,
} from '@countersign/exchange-gateway';
import { createKmsClient } from '@countersign/signing';
import { configFailure } from '../config-errors.ts';
import { ensureLocalKek, ensureSimCredentials, type CliClients } from '../exchange-sim-setup.ts';
import { UsageError } from '../command-run.ts';
import { readCredentials, type SecretInput } from '../secret-input.ts';

export const ExchangeExitCodes = { OK: 0, FAILED: 1, BAD_ARGUMENTS: 2 } as const;

interface Output {
  write(text: string): unknown;
}

export interface ExchangeCommandIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: SecretInput;
  readonly stdout: Output;
  readonly stderr: Output;
  readonly clients: CliClients;
  /** Resolves when the simulator should stop (SIGINT/SIGTERM by default). */
  readonly untilStopped: () => Promise<void>;
  readonly startSimulator: (options: SimulatorOptions) => Promise<ExchangeSimulator>;
}

export interface CredentialsCliOptions {
  readonly out?: string;
  readonly from?: string;
  readonly kmsKeyId?: string;
  readonly kekFile?: string;
  readonly gatewayId?: string;
  readonly exchangeName?: string;
  readonly force?: boolean;
}

export interface SimCliOptions {
  readonly host: string;
  readonly port: string;
  readonly db?: string;
  readonly credentials?: string;
  readonly latencyMs?: string;
  readonly errorRate?: string;
  readonly resetRate?: string;
  readonly timeoutRate?: string;
  readonly fillRatio?: string;
  readonly rateLimit?: string;
  readonly killSwitch?: boolean;
  readonly seed?: string;
}

function defaultIO(): ExchangeCommandIO {
  return {
    env: process.env,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    clients: { kms: () => createKmsClient(), ssm: () => new SSMClient({}) },
    untilStopped: () =>
      new Promise((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      }),
    startSimulator: startExchangeSimulator,
  };
}

/** Flags win over env; they are applied as the matching COUNTERSIGN_* variables. */
function exchangeConfig(
  env: Readonly<Record<string, string | undefined>>,
  opts: CredentialsCliOptions & { readonly credentials?: string },
): CountersignConfig {
  const location = opts.out ?? opts.from ?? opts.credentials;
  return loadConfig(
    {
      ...env,
      ...(location ? { COUNTERSIGN_EXCHANGE_CREDENTIALS: location } : {}),
      ...(opts.kmsKeyId ? { COUNTERSIGN_EXCHANGE_KMS_KEY_ID: opts.kmsKeyId } : {}),
      ...(opts.kekFile ? { COUNTERSIGN_EXCHANGE_KEK_FILE: opts.kekFile } : {}),
      ...(opts.gatewayId ? { COUNTERSIGN_GATEWAY_ID: opts.gatewayId } : {}),
      ...(opts.exchangeName ? { COUNTERSIGN_EXCHANGE_NAME: opts.exchangeName } : {}),
    },
    'exchange',
  );
}

function failure(prefix: string, err: unknown, stderr: Output): number {
  if (isCountersignError(err) && err.code === 'CONFIG_INVALID') {
    return configFailure(prefix, err, stderr);
  }
  stderr.write(`${prefix}: ${err instanceof Error ? err.message : String(err)}\n`);
  return ExchangeExitCodes.FAILED;
}

export async function sealCommand(
  opts: CredentialsCliOptions,
  io: ExchangeCommandIO,
): Promise<number> {
  const prefix = 'countersign exchange credentials seal';
  try {
    const config = exchangeConfig(io.env, opts);
    const location = parseCredentialsLocation(credentialsLocationFromConfig(config));
    const dataKeys = dataKeysFromConfig(config, io.clients.kms);
    ensureLocalKek(config);
    const raw = await readCredentials(io.stdin, io.stderr);
    const sealed = await sealCredentials({
      dataKeys,
      context: credentialsContext(config.gateway.id, config.exchange.name),
      apiKey: raw.apiKey,
      secret: raw.secret,
    });
    await writeSealedCredentials(location, sealed, {
      overwrite: opts.force === true,
      ssm: io.clients.ssm,
    });
    io.stderr.write(
      `sealed exchange credentials for gateway "${config.gateway.id}" and exchange "${config.exchange.name}" ` +
        `under ${sealed.keyId} into ${describeLocation(location)}\n`,
    );
    return ExchangeExitCodes.OK;
  } catch (err) {
    return failure(prefix, err, io.stderr);
  }
}

export async function checkCommand(
  opts: CredentialsCliOptions,
  io: ExchangeCommandIO,
): Promise<number> {
  const prefix = 'countersign exchange credentials check';
  try {
    const config = exchangeConfig(io.env, opts);
    const credentials = await loadExchangeCredentials(config, io.clients, silentLogger);
    const fingerprint = createHash('sha256').update(credentials.apiKey).digest('hex').slice(0, 16);
    io.stdout.write(
      `ok: ${describeLocation(parseCredentialsLocation(credentialsLocationFromConfig(config)))} opens for gateway ` +
        `"${config.gateway.id}" and exchange "${config.exchange.name}" (API key sha256 ${fingerprint}…)\n`,
    );
    return ExchangeExitCodes.OK;
  } catch (err) {
    return failure(prefix, err, io.stderr);
  }
}

function number(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(
      `${flag} must be a number from ${min} to ${max}, got "${value.slice(0, 20)}"`,
    );
  }
  return n;
}

export async function simCommand(opts: SimCliOptions, io: ExchangeCommandIO): Promise<number> {
  const prefix = 'countersign exchange-sim';
  let sim: ExchangeSimulator | undefined;
  try {
    const port = number(opts.port, '--port', 0, 65535) ?? 8788;
    const latencyMs = number(opts.latencyMs, '--latency-ms', 0, 600_000);
    const errorRate = number(opts.errorRate, '--error-rate', 0, 1);
    const resetRate = number(opts.resetRate, '--reset-rate', 0, 1);
    const timeoutRate = number(opts.timeoutRate, '--timeout-rate', 0, 1);
    const fillRatio = number(opts.fillRatio, '--fill-ratio', 0, 1);
    const rateLimitPerSec = number(opts.rateLimit, '--rate-limit', 0, 1_000_000);
    const seed = number(opts.seed, '--seed', 0, 2 ** 32 - 1);
    const config = exchangeConfig(io.env, opts);
    const { credentials, issued } = await ensureSimCredentials(config, io.clients, silentLogger);
    const dbPath = opts.db ?? embeddedPaths(config.dataDir).exchangeSimDb;
    sim = await io.startSimulator({
      credentials: [credentials],
      host: opts.host,
      port,
      dbPath,
      behaviour: {
        ...(latencyMs === undefined ? {} : { latencyMs }),
        ...(fillRatio === undefined ? {} : { fillRatio }),
        ...(rateLimitPerSec === undefined ? {} : { rateLimitPerSec }),
        killSwitch: opts.killSwitch === true,
      },
      faults: {
        ...(seed === undefined ? {} : { seed }),
        rates: {
          ...(errorRate === undefined ? {} : { errorRate }),
          ...(resetRate === undefined ? {} : { resetRate }),
          ...(timeoutRate === undefined ? {} : { timeoutRate }),
        },
      },
    });
    const where = describeLocation(parseCredentialsLocation(credentialsLocationFromConfig(config)));
    if (issued) io.stderr.write(`issued API key ${issued}; key and secret sealed into ${where}\n`);
    io.stderr.write(
      `exchange simulator on ${sim.url} (orders in ${dbPath}, API key from ${where})\n` +
        `run a gateway against it: COUNTERSIGN_EXCHANGE=http COUNTERSIGN_EXCHANGE_URL=${sim.url} npx countersign gateway\n`,
    );
    await io.untilStopped();
    const stats = sim.stats();
    io.stderr.write(
      `exchange simulator stopped: ${stats.requests} requests, ${stats.placed} orders placed, ` +
        `${stats.duplicates} duplicate submissions refused, ${stats.faults} faults, ${stats.rateLimited} rate limited\n`,
    );
    return ExchangeExitCodes.OK;
  } catch (err) {
    return failure(prefix, err, io.stderr);
  } finally {
    await sim?.close();
  }
}

export function register(program: Command, io?: Partial<ExchangeCommandIO>): void {
  const full = (): ExchangeCommandIO => ({ ...defaultIO(), ...io });
  const exchange = program.command('exchange').description('exchange connection tools');
  const credentials = exchange
    .command('credentials')
    .description('envelope-encrypted exchange API credentials');
  const shared = (cmd: Command) =>
    cmd
      .option(
        '--kms-key-id <id>',
        'KMS key (COUNTERSIGN_EXCHANGE_KMS_KEY_ID); default: local key file',
      )
      .option('--kek-file <path>', 'local key-encryption key (COUNTERSIGN_EXCHANGE_KEK_FILE)')
      .option('--gateway-id <id>', 'gateway id in the encryption context (COUNTERSIGN_GATEWAY_ID)')
      .option(
        '--exchange-name <name>',
        'exchange name in the encryption context (COUNTERSIGN_EXCHANGE_NAME)',
      );
  shared(
    credentials
      .command('seal')
      .description('read the API key and secret from stdin (two lines) or a prompt, and seal them')
      .option('--out <file|ssm:name>', 'where to write (COUNTERSIGN_EXCHANGE_CREDENTIALS)')
      .option('--force', 'replace existing sealed credentials (rotation)'),
  ).action(async (opts: CredentialsCliOptions) => {
    process.exitCode = await sealCommand(opts, full());
  });
  shared(
    credentials
      .command('check')
      .description('open the sealed credentials as the gateway would (prints no secret)')
      .option('--from <file|ssm:name>', 'what to open (COUNTERSIGN_EXCHANGE_CREDENTIALS)'),
  ).action(async (opts: CredentialsCliOptions) => {
    process.exitCode = await checkCommand(opts, full());
  });
  program
    .command('exchange-sim')
    .description('run a local exchange simulator (the API HttpExchange speaks) until Ctrl-C')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free one)', '8788')
    .option('--db <path>', 'SQLite file of its orders (default <dataDir>/exchange-sim.sqlite)')
    .option('--credentials <file>', 'sealed credentials; issued and sealed there when missing')
    .option('--latency-ms <n>', 'added before every answer')
    .option('--error-rate <0..1>', 'share of requests answered 503 (before or after processing)')
    .option('--reset-rate <0..1>', 'share of connections reset (before or after processing)')
    .option(
      '--timeout-rate <0..1>',
      'share of requests never answered (before or after processing)',
    )
    .option('--fill-ratio <0..1>', 'share of each order that fills at once (partial fills below 1)')
    .option('--rate-limit <n>', 'requests per second per API key (429 with Retry-After above)')
    .option('--kill-switch', 'start halted: orders are rejected TRADING_HALTED')
    .option('--seed <n>', 'seed of the fault rates (same seed, same faults)')
    .action(async (opts: SimCliOptions) => {
      process.exitCode = await simCommand(opts, full());
    });
}
