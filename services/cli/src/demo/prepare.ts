// Makes a configuration runnable as a demo: an API key of this run for the demo's own workload
// (never stored, never printed) and, when the configuration has none, a policy for the demo
// requester. The data directory's config.jsonc (`countersign init`, or the first `npm start`)
// normally has the policy; its API key is the operator's.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CountersignConfig, RequesterPolicy } from '@countersign/contracts';
import { generateApiKey, hashApiKey } from '@countersign/requester';
import { DEMO_ACCOUNTS, DEMO_MAX_NOTIONAL, DEMO_SYMBOLS } from './workload.ts';

/** Where the first `npm start` on a data directory keeps the API key for your own requests. */
export const DEMO_API_KEY_FILE = 'demo-api-key';

export interface PreparedDemo {
  readonly config: CountersignConfig;
  /** The workload's key: valid for this process's requester only. */
  readonly apiKey: string;
  /** The file holding a configured API key for your own requests (embedded mode), if any. */
  readonly apiKeyFile: string | null;
  /** The configuration had no policy for the requester: the demo's own was added. */
  readonly addedPolicy: boolean;
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

/** The stored key file, if its key is one the configuration trusts. */
function configuredKeyFile(config: CountersignConfig): string | null {
  if (config.mode !== 'embedded') return null;
  const file = join(config.dataDir, DEMO_API_KEY_FILE);
  if (!existsSync(file)) return null;
  const sha256 = hashApiKey(readFileSync(file, 'utf8').trim());
  return config.requester.apiKeys.some((k) => k.sha256 === sha256) ? file : null;
}

export function prepareDemo(config: CountersignConfig): PreparedDemo {
  const { key, entry } = generateApiKey('demo-workload', DEMO_ACCOUNTS);
  const hasPolicy = config.gateway.policies.some((p) => p.id === config.requester.id);
  return {
    apiKey: key,
    apiKeyFile: configuredKeyFile(config),
    addedPolicy: !hasPolicy,
    config: {
      ...config,
      requester: { ...config.requester, apiKeys: [...config.requester.apiKeys, entry] },
      gateway: {
        ...config.gateway,
        policies: hasPolicy
          ? config.gateway.policies
          : [...config.gateway.policies, demoPolicy(config.requester.id)],
      },
    },
  };
}
