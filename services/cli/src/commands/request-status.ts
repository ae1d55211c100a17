// What happened to orders, on the CLI:
//   countersign request status JTI [--wait S]     one order: queued, or receipted with its receipt
//   countersign request submit --file F --wait [S] (requester.ts) prints each order's outcome
// The operator's view: no API key, every account of this requester. Receipts are verified with the
// gateway's keys before they are stored and again before they are shown. Embedded: the command
// reads the bus itself (the requester's cursor) up to now, and keeps reading while it waits, so it
// works whether or not a `countersign requester` runs; aws: the receipts Lambda (or a requester
// with COUNTERSIGN_REQUESTER_RECEIPTS_QUEUE_URL) stores them, the command reads the table.
import { pino, type Logger } from 'pino';
import { JTI, systemClock, type Clock, type CountersignConfig } from '@countersign/contracts';
import {
  createReceiptsFromConfig,
  createTransactionStoreFromConfig,
  type TransactionStore,
  type TransactionView,
} from '@countersign/requester';
import { UsageError } from '../command-run.ts';

/** `request status --wait` and `request submit --wait`: at most an hour. */
export const MAX_CLI_WAIT_SEC = 3600;
/** `request submit --wait` without a number. */
export const DEFAULT_SUBMIT_WAIT_SEC = 60;

/** Whole seconds from 0 to MAX_CLI_WAIT_SEC. */
export function parseWaitSeconds(raw: string | boolean | undefined, fallback: number): number {
  if (raw === undefined || raw === false) return 0;
  if (raw === true) return fallback;
  if (!/^[0-9]{1,4}$/.test(raw) || Number(raw) > MAX_CLI_WAIT_SEC) {
    throw new UsageError(`--wait must be whole seconds from 0 to ${MAX_CLI_WAIT_SEC}`);
  }
  return Number(raw);
}

export interface OutcomeWaiter {
  /** The status of each jti, waiting until its receipt is in or the shared deadline passed. */
  statuses(jtis: readonly string[], waitSec: number): Promise<(TransactionView | null)[]>;
  close(): Promise<void>;
}

const cliLogger = (config: CountersignConfig): Logger =>
  pino({ level: config.logLevel === 'info' ? 'warn' : config.logLevel }, pino.destination(2));

/**
 * Looks orders up, catching up with the embedded bus first and following it while waiting.
 * `store`: the requester's own store (submit), else one is opened (and closed) here.
 */
export async function openOutcomeWaiter(
  config: CountersignConfig,
  store?: TransactionStore,
  clock: Clock = systemClock,
): Promise<OutcomeWaiter> {
  const own = store ?? createTransactionStoreFromConfig(config, { clock });
  const logger = cliLogger(config);
  const receipts = createReceiptsFromConfig(config, own, logger, { clock });
  try {
    await receipts.catchUp();
  } catch (err) {
    await receipts.close();
    if (!store) await own.close?.();
    throw err;
  }
  return {
    async statuses(jtis, waitSec) {
      const stop = new AbortController();
      const following = waitSec > 0 ? receipts.consume(stop.signal) : undefined;
      try {
        const deadline = clock.now() + waitSec * 1000;
        const out: (TransactionView | null)[] = [];
        for (const jti of jtis) {
          const waitMs = Math.max(0, deadline - clock.now());
          out.push(await receipts.status.find(jti, 'any', { waitMs }));
        }
        return out;
      } finally {
        stop.abort();
        await following;
      }
    },
    async close() {
      await receipts.close();
      if (!store) await own.close?.();
    },
  };
}

export interface StatusOutput {
  write(text: string): unknown;
}

/** `request status JTI [--wait S]`: 0 when found (queued or receipted), 1 when unknown. */
export async function requestStatusCommand(
  jti: string,
  options: { wait?: string },
  config: CountersignConfig,
  io: { readonly stdout: StatusOutput; readonly stderr: StatusOutput },
  open: (config: CountersignConfig) => Promise<OutcomeWaiter> = openOutcomeWaiter,
): Promise<number> {
  if (!JTI.test(jti)) throw new UsageError('JTI must be 22 base64url characters');
  const waitSec = parseWaitSeconds(options.wait, 0);
  const waiter = await open(config);
  try {
    const [view] = await waiter.statuses([jti], waitSec);
    if (!view) {
      io.stderr.write(`no order ${jti} of requester ${config.requester.id}\n`);
      return 1;
    }
    io.stdout.write(`${JSON.stringify(view)}\n`);
    if (view.status === 'queued' && waitSec > 0) {
      io.stderr.write(`no receipt yet after ${waitSec} s\n`);
    }
    return 0;
  } finally {
    await waiter.close();
  }
}

export interface Outcomes {
  /** The status fields of each order, by jti, for its output line. */
  readonly byJti: ReadonlyMap<string, OutcomeFields>;
  /** `3 EXECUTED, 1 REJECTED NOTIONAL_TOO_HIGH, 2 without a receipt after 60 s` */
  readonly summary: string;
  readonly allExecuted: boolean;
}

export type OutcomeFields =
  | { readonly status: 'queued' }
  | { readonly status: 'receipted'; readonly outcome: string; readonly reason?: string };

/** Waits for the receipts of `jtis` (one deadline for all) and sums their outcomes up. */
export async function collectOutcomes(
  jtis: readonly string[],
  waiter: OutcomeWaiter,
  waitSec: number,
): Promise<Outcomes> {
  const views = await waiter.statuses(jtis, waitSec);
  const byJti = new Map<string, OutcomeFields>();
  const counts = new Map<string, number>();
  let queued = 0;
  jtis.forEach((jti, i) => {
    const v = views[i];
    if (v?.status !== 'receipted') {
      queued++;
      byJti.set(jti, { status: 'queued' });
      return;
    }
    byJti.set(jti, {
      status: 'receipted',
      outcome: v.outcome,
      ...(v.reason === undefined ? {} : { reason: v.reason }),
    });
    const name = v.reason ? `${v.outcome} ${v.reason}` : v.outcome;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  });
  const parts = [...counts].map(([name, n]) => `${n} ${name}`);
  if (queued > 0) parts.push(`${queued} without a receipt after ${waitSec} s`);
  return {
    byJti,
    summary: parts.join(', ') || 'none',
    allExecuted: queued === 0 && [...counts.keys()].every((k) => k === 'EXECUTED'),
  };
}
