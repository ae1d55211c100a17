// The exchange of a demo run: the paper exchange (default), or `--exchange sim`: a local
// exchange simulator started here, with the gateway on HttpExchange against it (credentials
// issued and sealed on the first run, opened by the gateway like any venue's).
//
// Exactly-once is checked against the exchanges' own ledgers. In the embedded mode the archive
// holds the receipts of every run in this data dir, paper and sim alike, so both ledgers count.
import { existsSync } from 'node:fs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Logger } from 'pino';
import { embeddedPaths, type CountersignConfig } from '@countersign/contracts';
import {
  createPaperExchange,
  openSimOrderStore,
  startExchangeSimulator,
  type ExchangeSimulator,
} from '@countersign/exchange-gateway';
import { createKmsClient } from '@countersign/signing';
import { ensureSimCredentials } from '../exchange-sim-setup.ts';

export const DemoExchangeKinds = ['paper', 'sim'] as const;
export type DemoExchangeKind = (typeof DemoExchangeKinds)[number];

export interface DemoSimSettings {
  /** Share of exchange requests hit by a fault (5xx, reset or no answer, evenly). Default 0. */
  readonly faultRate?: number;
  readonly latencyMs?: number;
  readonly seed?: number;
}

export interface DemoExchange {
  /** What the gateway runs with. */
  readonly config: CountersignConfig;
  readonly sim: ExchangeSimulator | undefined;
  /** Orders executed so far; `gatewayCount` is the gateway's own (AWS paper: in its memory). */
  executions(gatewayCount: () => number): number;
  close(): Promise<void>;
}

function countIfExists(path: string, count: (path: string) => number): number {
  return existsSync(path) ? count(path) : 0;
}

const paperCount = (path: string) => {
  const paper = createPaperExchange({ path });
  try {
    return paper.executions();
  } finally {
    void paper.close();
  }
};

const simFileCount = (path: string) => {
  const store = openSimOrderStore(path);
  try {
    return store.executions();
  } finally {
    store.close();
  }
};

export async function startDemoExchange(
  config: CountersignConfig,
  kind: DemoExchangeKind,
  settings: DemoSimSettings,
  logger: Logger,
): Promise<DemoExchange> {
  const paths = embeddedPaths(config.dataDir);
  const embedded = config.mode === 'embedded';
  let sim: ExchangeSimulator | undefined;
  let runConfig = config;
  if (kind === 'sim') {
    const simLogger = logger.child({ service: 'exchange-sim' });
    const { credentials } = await ensureSimCredentials(
      config,
      { kms: () => createKmsClient(), ssm: () => new SSMClient({}) },
      simLogger,
    );
    const rate = (settings.faultRate ?? 0) / 3;
    sim = await startExchangeSimulator({
      credentials: [credentials],
      dbPath: paths.exchangeSimDb,
      behaviour: { latencyMs: settings.latencyMs ?? 0 },
      faults: {
        ...(settings.seed === undefined ? {} : { seed: settings.seed }),
        rates: { errorRate: rate, resetRate: rate, timeoutRate: rate },
      },
      logger: simLogger,
    });
    runConfig = { ...config, exchange: { ...config.exchange, kind: 'http', url: sim.url } };
  }
  return {
    config: runConfig,
    sim,
    executions(gatewayCount) {
      if (!embedded) return sim ? sim.executions() : gatewayCount();
      const simOrders = sim ? sim.executions() : countIfExists(paths.exchangeSimDb, simFileCount);
      return countIfExists(paths.exchangeDb, paperCount) + simOrders;
    },
    close: async () => {
      await sim?.close();
    },
  };
}
