// Makes a configuration runnable as a demo: an API key for the HTTP API (kept in the data dir in
// the embedded mode so `curl` can use it) and a policy for the demo requester, unless the
// configuration already has its own.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CountersignConfig, RequesterPolicy } from '@countersign/contracts';
import { generateApiKey, hashApiKey } from '@countersign/requester';
import { DEMO_ACCOUNTS, DEMO_MAX_NOTIONAL, DEMO_SYMBOLS } from './workload.ts';

export interface PreparedDemo {
  readonly config: CountersignConfig;
  readonly apiKey: string;
  /** Where the API key is kept (embedded mode), for the curl example. */
  readonly apiKeyFile: string | null;
}

export function demoPolicy(requesterId: string): RequesterPolicy {
  return {
    id: requesterId,
    accounts: [...DEMO_ACCOUNTS],
    symbols: Object.keys(DEMO_SYMBOLS),
    sides: ['buy', 'sell'],
    maxNotional: DEMO_MAX_NOTIONAL,
    // The demo pushes thousands of orders a second through five accounts.
    maxOrdersPerMinute: 10_000_000,
  };
}

function demoApiKey(config: CountersignConfig): { key: string; file: string | null } {
  if (config.mode !== 'embedded')
    return { key: generateApiKey('demo', DEMO_ACCOUNTS).key, file: null };
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const file = join(config.dataDir, 'demo-api-key');
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), file };
  const { key } = generateApiKey('demo', DEMO_ACCOUNTS);
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, file };
}

export function prepareDemo(config: CountersignConfig): PreparedDemo {
  const { key, file } = demoApiKey(config);
  const entry = { name: 'demo', sha256: hashApiKey(key), accounts: [...DEMO_ACCOUNTS] };
  const hasPolicy = config.gateway.policies.some((p) => p.id === config.requester.id);
  return {
    apiKey: key,
    apiKeyFile: file,
    config: {
      ...config,
      requester: {
        ...config.requester,
        apiKeys: [...config.requester.apiKeys.filter((k) => k.sha256 !== entry.sha256), entry],
      },
      gateway: {
        ...config.gateway,
        policies: hasPolicy
          ? config.gateway.policies
          : [...config.gateway.policies, demoPolicy(config.requester.id)],
      },
    },
  };
}
