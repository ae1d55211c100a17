// CLI commands of the requester:
//   countersign request submit --file orders.json|-   sign + enqueue a JSON array or NDJSON file
//     [--wait [S]]                                     then wait for each order's receipt
//   countersign request status JTI [--wait S]         what happened to an order (request-status.ts)
//   countersign requester                             run the HTTP API (like services/requester main),
//                                                     its operator page, and tracing when configured
// (`countersign keys` is in keys.ts.) Exit codes: 0 ok, 1 some request failed (or the command
// could not run), 2 bad arguments or configuration.
//
// `request submit` may be killed halfway (after some batches reached the queue). Each entry has
// an idempotency key (the input's SHA-256, or --idempotency-key, and its position) in the
// requester's idempotency store, where its jti and token are kept before it is sent: running
// the same input again sends nothing for entries already answered and the same token for
// entries left half-done, so a rerun never makes a second order.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { CountersignConfig, FieldIssue } from '@countersign/contracts';
import {
  canonicalSha256,
  createIdempotencyStoreFromConfig,
  createRequesterFromConfig,
  runRequesterServer,
  submitEachOnce,
  type EachResult,
  type IdempotencyStore,
  type ItemFailure,
  type OnceItem,
  type SubmitItem,
  type WiredRequester,
} from '@countersign/requester';
import { startTracingFromConfig } from '@countersign/observability/sdk';
import { embeddedOperatorStatus } from '../operator-status.ts';
import {
  CommandExitCodes,
  loadConfigOr,
  runCommand as run,
  UsageError,
  type CommandIO,
} from '../command-run.ts';
import {
  DEFAULT_SUBMIT_WAIT_SEC,
  collectOutcomes,
  openOutcomeWaiter,
  parseWaitSeconds,
  requestStatusCommand,
  type OutcomeWaiter,
  type Outcomes,
} from './request-status.ts';

export const RequesterExitCodes = CommandExitCodes;

export interface RequesterCommandIO extends CommandIO {
  readonly readInput: (file: string) => Promise<string>;
  /** Builds the requester from validated config (tests inject adapters here). */
  readonly createRequester: (config: CountersignConfig) => Promise<WiredRequester>;
  /** Where `request submit` keeps each entry's key, jti and token (resume after a crash). */
  readonly openIdempotency: (config: CountersignConfig) => IdempotencyStore;
  /** Order status lookups (`request status`, `submit --wait`); `store`: the requester's own. */
  readonly openOutcomes?: (
    config: CountersignConfig,
    store?: WiredRequester['transactions'],
  ) => Promise<OutcomeWaiter>;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function defaultIO(): RequesterCommandIO {
  return {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    readInput: (file) => (file === '-' ? readStdin() : readFile(file, 'utf8')),
    createRequester: (config) => createRequesterFromConfig(config),
    openIdempotency: (config) => createIdempotencyStoreFromConfig(config),
  };
}

/** Where an entry is in the input: what every message about it names. */
export interface InputPosition {
  /** Among the input's entries, malformed ones included (0-based): stable when one is fixed. */
  readonly entry: number;
  /** `line 4` (NDJSON, counted in the raw input, blank lines included) or `[3]` (array). */
  readonly label: string;
  /** NDJSON only: the 1-based line number. */
  readonly line?: number;
}

export interface ParsedInput {
  readonly items: SubmitItem[];
  /** Of each item, by the same index. */
  readonly positions: InputPosition[];
  /** Lines (NDJSON) or entries that are not `{ account, txn }` objects. */
  readonly errors: FieldIssue[];
}

function asItem(value: unknown): SubmitItem | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be an object { account, txn }';
  }
  const { account, txn, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) return `unknown field(s): ${extra.join(', ')}`;
  return { account, txn };
}

/**
 * Parses a JSON array of `{ account, txn }`, or NDJSON (one per line, blank lines ignored).
 * Structural errors are reported by position (`[3]` or `line 4`, the line of the file as an
 * editor shows it); field validation is the requester's, so every bad field path is reported
 * per item, under the same position.
 */
export function parseSubmitInput(text: string): ParsedInput {
  const trimmed = text.trim();
  const none: ParsedInput = { items: [], positions: [], errors: [] };
  if (trimmed === '') return { ...none, errors: [{ path: '(input)', message: 'no requests' }] };
  const items: SubmitItem[] = [];
  const positions: InputPosition[] = [];
  const errors: FieldIssue[] = [];
  const add = (value: unknown, position: InputPosition) => {
    const item = asItem(value);
    if (typeof item === 'string') errors.push({ path: position.label, message: item });
    else {
      items.push(item);
      positions.push(position);
    }
  };
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      return {
        ...none,
        errors: [{ path: '(input)', message: `not valid JSON: ${(err as Error).message}` }],
      };
    }
    (parsed as unknown[]).forEach((v, i) => add(v, { entry: i, label: `[${i}]` }));
    return { items, positions, errors };
  }
  let entry = 0;
  // Split the raw text, not the trimmed one: leading blank lines count like an editor counts.
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === '') return;
    const position = { entry: entry++, label: `line ${i + 1}`, line: i + 1 };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      errors.push({ path: position.label, message: 'not valid JSON' });
      return;
    }
    add(value, position);
  });
  return { items, positions, errors };
}

function describeFailure(r: ItemFailure, where: string): string {
  const paths = r.issues?.map((i) => `${i.path}: ${i.message}`).join('; ');
  return `${where}: ${r.code}${paths ? ` (${paths})` : `: ${r.message}`}`;
}

const RUN_KEY = /^[\x21-\x7e]{1,200}$/;

/**
 * The idempotency key of each entry: the run's key (by default the SHA-256 of the input, so
 * running the same file again resumes or replays it) and the entry's position. The space makes
 * it a key no HTTP client can send (Idempotency-Key is printable ASCII without spaces).
 */
export function submitKeys(
  text: string,
  items: readonly SubmitItem[],
  runKey?: string,
  positions?: readonly InputPosition[],
): OnceItem[] {
  const run = runKey ?? `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
  return items.map((item, i) => ({
    ...item,
    // By entry, so fixing one malformed line and running again (same --idempotency-key) keeps
    // every other entry's key.
    key: `${run} #${positions?.[i]?.entry ?? i}`,
    bodySha256: canonicalSha256({ account: item.account, txn: item.txn }),
  }));
}

export async function requestSubmitCommand(
  options: { file?: string; tokens?: boolean; idempotencyKey?: string; wait?: string | boolean },
  io: RequesterCommandIO,
): Promise<number> {
  if (!options.file) throw new UsageError('--file is required (a path, or - for stdin)');
  const waitSec = parseWaitSeconds(options.wait, DEFAULT_SUBMIT_WAIT_SEC);
  if (options.idempotencyKey !== undefined && !RUN_KEY.test(options.idempotencyKey)) {
    throw new UsageError('--idempotency-key must be 1-200 printable ASCII characters, no spaces');
  }
  const config = loadConfigOr(io, 'requester');
  const text = await io.readInput(options.file);
  const input = parseSubmitInput(text);
  // A malformed entry is reported and skipped; the others are still submitted (exit 1).
  for (const e of input.errors) io.stderr.write(`${e.path}: ${e.message} (not submitted)\n`);
  if (input.items.length === 0) {
    io.stderr.write('nothing submitted: no well-formed entry\n');
    return RequesterExitCodes.FAILED;
  }
  const wired = await io.createRequester(config);
  const total = input.items.length;
  const bar =
    io.stderr.isTTY && total >= 20
      ? new cliProgress.SingleBar(
          {
            stream: io.stderr as NodeJS.WritableStream,
            format: 'signing {bar} {value}/{total} {percentage}% | {eta}s left',
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let results: EachResult[];
  let unrecorded = 0;
  let outcomes: Outcomes | undefined;
  const started = performance.now();
  let store: IdempotencyStore | undefined;
  try {
    store = io.openIdempotency(config);
    bar?.start(total, 0);
    results = await submitEachOnce(
      wired.requester,
      store,
      submitKeys(text, input.items, options.idempotencyKey, input.positions),
      {
        scope: `request submit ${config.requester.id}`,
        onProgress: (done) => bar?.update(done),
        onStoreError: () => unrecorded++,
      },
    );
    bar?.stop();
    if (options.wait !== undefined && options.wait !== false) {
      const waiter = await (io.openOutcomes ?? openOutcomeWaiter)(config, wired.transactions);
      try {
        outcomes = await collectOutcomes(
          results.flatMap((r) => (r.ok ? [r.jti] : [])),
          waiter,
          waitSec,
        );
      } finally {
        await waiter.close();
      }
    }
  } finally {
    bar?.stop();
    await store?.close?.();
    await wired.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const count = { failed: 0, replayed: 0, resent: 0 };
  for (const r of results) {
    if (r.ok) {
      const where = input.positions[r.index];
      const line = {
        // The entry's place in the input (malformed ones counted), as `[i]` / `line n` name it.
        index: where?.entry ?? r.index,
        ...(where?.line === undefined ? {} : { line: where.line }),
        jti: r.jti,
        messageId: r.messageId,
        ...(r.via === 'replayed' ? { replayed: true } : {}),
        ...(r.via === 'resumed' ? { resent: true } : {}),
        ...(options.tokens && r.token !== undefined ? { token: r.token } : {}),
        ...outcomes?.byJti.get(r.jti),
      };
      if (r.via === 'replayed') count.replayed++;
      if (r.via === 'resumed') count.resent++;
      io.stdout.write(`${JSON.stringify(line)}\n`);
    } else {
      count.failed++;
      io.stderr.write(`${describeFailure(r, input.positions[r.index]?.label ?? `#${r.index}`)}\n`);
    }
  }
  const earlier = [
    count.replayed > 0 ? `${count.replayed} already submitted by an earlier run` : '',
    count.resent > 0 ? `${count.resent} sent again with their first token` : '',
  ].filter(Boolean);
  const malformed = input.errors.length;
  io.stderr.write(
    `submitted ${total - count.failed} of ${total} requests in ${seconds.toFixed(1)} s` +
      `${count.failed > 0 ? `, ${count.failed} failed` : ''}` +
      `${malformed > 0 ? `, ${malformed} malformed entries skipped` : ''}` +
      `${earlier.length > 0 ? ` (${earlier.join(', ')})` : ''}` +
      ` (iss ${config.requester.id}, kid ${wired.signer.kid})\n`,
  );
  if (unrecorded > 0) {
    io.stderr.write(
      `warning: ${unrecorded} requests were sent but their record was not updated; ` +
        'running the same input again within 24 h sends them again with the same jti (no duplicate order)\n',
    );
  }
  if (outcomes) io.stderr.write(`outcomes: ${outcomes.summary}\n`);
  const allWell = count.failed === 0 && malformed === 0 && (outcomes?.allExecuted ?? true);
  return allWell ? RequesterExitCodes.OK : RequesterExitCodes.FAILED;
}

export function register(program: Command, overrides: Partial<RequesterCommandIO> = {}): void {
  const io = (): RequesterCommandIO => ({ ...defaultIO(), ...overrides });

  const request = program.command('request').description('sign and enqueue transaction requests');
  request
    .command('submit')
    .description('sign every { account, txn } of a JSON array or NDJSON file and enqueue it')
    .requiredOption('-f, --file <path>', 'orders file, or - for stdin')
    .option('--tokens', 'also print each signed token (they are bearer credentials)')
    .option(
      '--idempotency-key <key>',
      'name this run (default: the SHA-256 of the input): the same key and input resume or replay it',
    )
    .option(
      '--wait [seconds]',
      `then wait up to this long (default ${DEFAULT_SUBMIT_WAIT_SEC}) for each order's receipt and print its outcome`,
    )
    .action(
      (opts: {
        file?: string;
        tokens?: boolean;
        idempotencyKey?: string;
        wait?: string | boolean;
      }) => run(io(), () => requestSubmitCommand(opts, io())),
    );
  request
    .command('status')
    .description(
      "what happened to an order: queued, or receipted (outcome, reason, the gateway's signed receipt)",
    )
    .argument('<jti>', 'the order id `request submit` or the HTTP API answered')
    .option('--wait <seconds>', 'wait up to this long for the receipt')
    // Today's jtis start with "-" (their time prefix): take one as the argument, not an option.
    .allowUnknownOption()
    .action((jti: string, opts: { wait?: string }) =>
      run(io(), () =>
        requestStatusCommand(jti, opts, loadConfigOr(io(), 'receipts'), io(), (config) =>
          (io().openOutcomes ?? openOutcomeWaiter)(config),
        ),
      ),
    );

  program
    .command('requester')
    .description('run the requester HTTP API (COUNTERSIGN_HTTP_HOST / COUNTERSIGN_HTTP_PORT)')
    .action(() =>
      run(io(), async () => {
        const config = loadConfigOr(io(), 'requester');
        // This command is a composition root: the OpenTelemetry SDK is registered here only
        // when COUNTERSIGN_TRACING asks for it (off: nothing is registered).
        const tracing = startTracingFromConfig(config.observability, 'countersign-requester');
        const status = config.mode === 'embedded' ? embeddedOperatorStatus(config) : undefined;
        try {
          const running = await runRequesterServer(
            config,
            status ? { operatorStatus: () => status.read() } : {},
          );
          io().stderr.write(`requester listening on ${running.url}\n`);
          await new Promise<void>((resolve) => {
            const stop = () => void running.stop().finally(resolve);
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
          });
        } finally {
          status?.close();
          await tracing?.shutdown();
        }
        return RequesterExitCodes.OK;
      }),
    );
}
