// Test support of the CLI's requester commands: output sinks and the IO of `request submit` /
// `request status` on an embedded data directory (the requester and its idempotency store built
// from the configuration, as the real CLI does).
import { systemClock } from '@countersign/contracts';
import {
  createRequesterFromConfig,
  createSqliteIdempotencyStore,
  idempotencyDbPath,
} from '@countersign/requester';
import type { RequesterCommandIO } from '../commands/requester.ts';

/** A valid order. */
export const CLI_TXN = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.5',
  limitPrice: '60000',
  timeInForce: 'GTC',
};

export function sink() {
  const chunks: string[] = [];
  return { write: (t: string) => chunks.push(t), text: () => chunks.join('') };
}

/** The commands' IO on the data directory `dir`, reading `input` as the orders file. */
export function embeddedCommandIO(dir: string, input = '', env: Record<string, string> = {}) {
  const stdout = sink();
  const stderr = sink();
  const io: RequesterCommandIO = {
    env: { COUNTERSIGN_DATA_DIR: dir, ...env },
    stdout,
    stderr,
    readInput: () => Promise.resolve(input),
    createRequester: (config) => createRequesterFromConfig(config),
    openIdempotency: (config) =>
      createSqliteIdempotencyStore({ path: idempotencyDbPath(config), clock: systemClock }),
  };
  return { io, stdout, stderr };
}
