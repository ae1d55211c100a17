// A live embedded requester (HTTP on a free loopback port, API keys, its receipt consumer) and,
// on request, a gateway worker on the same data directory, in this process. For the status and
// schemathesis tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type CountersignConfig } from '@countersign/contracts';
import {
  createRequesterServiceFromConfig,
  generateApiKey,
  startHttpServer,
  type RequesterService,
  type RunningServer,
} from '@countersign/requester';
import { runGateway } from '@countersign/exchange-gateway';

export const EMBEDDED_REQUESTER_ID = 'req-live';
export const EMBEDDED_GATEWAY_ID = 'gw-live';

export interface EmbeddedRequester {
  readonly url: string;
  readonly dataDir: string;
  readonly config: CountersignConfig;
  readonly service: RequesterService;
  /** An API key for `accounts`, and one for `acct-9` only. */
  readonly key: string;
  readonly otherKey: string;
  /** Starts the gateway worker (policy: `accounts`, BTC-USD and ETH-USD). */
  startGateway(): void;
  stop(): Promise<void>;
}

export async function startEmbeddedRequester(
  options: { readonly accounts?: readonly string[]; readonly logLevel?: string } = {},
): Promise<EmbeddedRequester> {
  const accounts = options.accounts ?? ['acct-1', 'acct-2'];
  const bot = generateApiKey('bot', accounts);
  const other = generateApiKey('other', ['acct-9']);
  const dataDir = mkdtempSync(join(tmpdir(), 'countersign-live-'));
  const env = {
    COUNTERSIGN_DATA_DIR: dataDir,
    COUNTERSIGN_REQUESTER_ID: EMBEDDED_REQUESTER_ID,
    COUNTERSIGN_GATEWAY_ID: EMBEDDED_GATEWAY_ID,
    COUNTERSIGN_LOG_LEVEL: options.logLevel ?? 'silent',
    COUNTERSIGN_API_KEYS: JSON.stringify([bot.entry, other.entry]),
    COUNTERSIGN_POLICIES: JSON.stringify([
      {
        id: EMBEDDED_REQUESTER_ID,
        accounts,
        symbols: ['BTC-USD', 'ETH-USD'],
        maxNotional: '1000000',
      },
    ]),
  };
  const config = parseConfig({ env, part: 'requester' });
  const service = await createRequesterServiceFromConfig(config);
  const server: RunningServer = await startHttpServer(service.app, {
    host: '127.0.0.1',
    port: 0,
  });
  const stopGateway = new AbortController();
  let gateway: Promise<unknown> | undefined;
  return {
    url: server.url,
    dataDir,
    config,
    service,
    key: bot.key,
    otherKey: other.key,
    startGateway() {
      gateway ??= runGateway({ env, signal: stopGateway.signal });
    },
    async stop() {
      stopGateway.abort();
      await gateway;
      await server.close();
      await service.close();
    },
  };
}
