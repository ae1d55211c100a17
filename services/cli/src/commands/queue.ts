// The requests queue's dead letters, for the operator:
//   countersign queue dlq [--json] [--limit N]             list them (embedded: the queue_dlq
//                                                          table; aws: a peek at the SQS DLQ)
//   countersign queue redrive (--message-id ID ... | --all) move them back to the queue
// A redriven request is safe: the gateway's takeover reconciles with the exchange before it
// could place the order again. What a dead letter's body says (iss, jti, sub) is read without
// checking its signature: shown to the operator, never trusted.
// Exit codes: 0 done, 1 a --message-id was not in the DLQ (the others were moved) or the command
// could not run, 2 bad arguments or configuration.
import { existsSync } from 'node:fs';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { embeddedPaths, type CountersignConfig } from '@countersign/contracts';
import {
  createSqliteQueue,
  findSqsDeadLetterQueue,
  peekSqsDeadLetters,
  startSqsRedrive,
  type SqliteQueue,
} from '@countersign/transport';
import { decodeUnverified } from '@countersign/verifier';
import {
  CommandExitCodes,
  loadConfigOr,
  runCommand,
  UsageError,
  type CommandIO,
} from '../command-run.ts';

export interface QueueCommandIO extends CommandIO {
  /** The SQS client of aws mode (tests point it at moto). */
  readonly sqs?: () => SQSClient;
}

/** One dead letter as the operator sees it; iss/jti/sub are unverified. */
export interface DeadLetterView {
  readonly messageId: string;
  readonly groupId: string | null;
  readonly receiveCount: number;
  /** ISO time it was moved to the DLQ (null on SQS, which does not say). */
  readonly movedAt: string | null;
  readonly sentAt: string | null;
  readonly unverified: {
    readonly iss: string | null;
    readonly jti: string | null;
    readonly sub: string | null;
  };
}

const DEFAULT_LIMIT = 100;

function viewOf(m: {
  readonly messageId: string;
  readonly body: string;
  readonly groupId: string | undefined;
  readonly receiveCount: number;
  readonly sentAt: number;
  readonly movedAt?: number;
}): DeadLetterView {
  const claims = decodeUnverified(m.body);
  const text = (k: string) => (typeof claims?.[k] === 'string' ? claims[k] : null);
  const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);
  return {
    messageId: m.messageId,
    groupId: m.groupId ?? null,
    receiveCount: m.receiveCount,
    movedAt: iso(m.movedAt),
    sentAt: iso(m.sentAt),
    unverified: { iss: text('iss'), jti: text('jti'), sub: text('sub') },
  };
}

function line(v: DeadLetterView): string {
  const u = v.unverified;
  return (
    `${v.messageId}  group=${v.groupId ?? '-'}  receives=${v.receiveCount}  ` +
    `moved=${v.movedAt ?? '-'}  sent=${v.sentAt ?? '-'}  ` +
    `iss=${u.iss ?? '-'} jti=${u.jti ?? '-'} sub=${u.sub ?? '-'} (unverified)\n`
  );
}

/** The embedded queue, or undefined when the data directory has none yet (nothing to show). */
function openEmbedded(config: CountersignConfig, create: boolean): SqliteQueue | undefined {
  const path = embeddedPaths(config.dataDir).queueDb;
  if (!create && !existsSync(path)) return undefined;
  return createSqliteQueue({
    path,
    visibilityTimeoutSec: config.queue.visibilityTimeoutSec,
    maxReceives: config.queue.maxReceives,
  });
}

function sqsOf(io: QueueCommandIO): SQSClient {
  return io.sqs ? io.sqs() : new SQSClient({});
}

function limitOf(v: string | undefined): number {
  if (v === undefined) return DEFAULT_LIMIT;
  if (!/^[1-9][0-9]{0,5}$/.test(v)) throw new UsageError('--limit must be a positive integer');
  return Number(v);
}

export async function queueDlqCommand(
  opts: { readonly json?: boolean; readonly limit?: string },
  io: QueueCommandIO,
): Promise<number> {
  const limit = limitOf(opts.limit);
  const config = loadConfigOr(io, 'queue');
  let count: number;
  let views: DeadLetterView[];
  let where: string;
  if (config.mode === 'aws') {
    const dlq = await findSqsDeadLetterQueue(sqsOf(io), config.queue.url!);
    const peek = await peekSqsDeadLetters(sqsOf(io), dlq);
    count = peek.approximateCount;
    views = peek.messages.slice(0, limit).map(viewOf);
    where = dlq.dlqArn;
  } else {
    const queue = openEmbedded(config, false);
    try {
      count = queue?.depth().dlq ?? 0;
      views = (queue?.dlq({ limit }) ?? []).map(viewOf);
    } finally {
      await queue?.close();
    }
    where = embeddedPaths(config.dataDir).queueDb;
  }
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({ dlq: where, count, messages: views })}\n`);
    return CommandExitCodes.OK;
  }
  for (const v of views) io.stdout.write(line(v));
  const approx = config.mode === 'aws' ? 'about ' : '';
  const shown = views.length < count ? ` (${views.length} shown)` : '';
  io.stdout.write(`${approx}${count} dead letter(s) in ${where}${shown}\n`);
  return CommandExitCodes.OK;
}

export async function queueRedriveCommand(
  opts: { readonly messageId?: readonly string[]; readonly all?: boolean },
  io: QueueCommandIO,
): Promise<number> {
  const ids = opts.messageId ?? [];
  if (ids.length === 0 && !opts.all) {
    throw new UsageError('queue redrive: name the messages (--message-id ID ...) or pass --all');
  }
  if (ids.length > 0 && opts.all) {
    throw new UsageError('queue redrive: --message-id and --all exclude each other');
  }
  const config = loadConfigOr(io, 'queue');
  if (config.mode === 'aws') {
    if (!opts.all) {
      throw new UsageError(
        'queue redrive: SQS moves a dead-letter queue as a whole (StartMessageMoveTask): use --all',
      );
    }
    const dlq = await findSqsDeadLetterQueue(sqsOf(io), config.queue.url!);
    const task = await startSqsRedrive(sqsOf(io), dlq);
    io.stdout.write(
      `started moving every message of ${dlq.dlqArn} back to ${dlq.sourceArn} ` +
        `(task ${task.taskHandle}); SQS moves them in the background ` +
        `(aws sqs list-message-move-tasks --source-arn ${dlq.dlqArn})\n`,
    );
    return CommandExitCodes.OK;
  }
  const queue = openEmbedded(config, true)!;
  try {
    const result = await queue.redrive(opts.all ? {} : { messageIds: ids });
    for (const m of result.moved) io.stdout.write(`moved ${line(viewOf(m))}`);
    io.stdout.write(`moved ${result.moved.length} message(s) back to the queue\n`);
    for (const id of result.notFound) io.stderr.write(`not in the dead-letter queue: ${id}\n`);
    return result.notFound.length > 0 ? CommandExitCodes.FAILED : CommandExitCodes.OK;
  } finally {
    await queue.close();
  }
}

export function register(program: Command, overrides: Partial<QueueCommandIO> = {}): void {
  const io = (): QueueCommandIO => ({
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    ...overrides,
  });
  const queue = program
    .command('queue')
    .description("the requests queue's dead letters: list them, move them back");
  queue
    .command('dlq')
    .description(
      'list the dead letters: message id, group, receive count, times, and the request iss/jti/sub (unverified)',
    )
    .option('--json', 'one JSON object: {dlq, count, messages}')
    .option('--limit <n>', `at most this many (default ${DEFAULT_LIMIT}; SQS shows at most 10)`)
    .action((opts: { json?: boolean; limit?: string }) =>
      runCommand(io(), () => queueDlqCommand(opts, io())),
    );
  queue
    .command('redrive')
    .description(
      'move dead letters back to the queue as new deliveries (the gateway reconciles each with the exchange before it could place it again)',
    )
    .option(
      '--message-id <id...>',
      'these messages (embedded mode); one not in the DLQ is reported, exit 1',
    )
    .option('--all', 'every dead letter (aws: an SQS message move task)')
    .action((opts: { messageId?: string[]; all?: boolean }) =>
      runCommand(io(), () => queueRedriveCommand(opts, io())),
    );
}
