// Makes a data directory ready for every part: the requester's and the gateway's signing keys,
// an API key for the HTTP API, and `config.jsonc` holding the ids, the key's SHA-256, a policy
// for the requester (trusting its JWKS file) and every default, explained. Used by
// `countersign init` and by the first `npm start` on a directory, so both write the same file.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  CountersignError,
  EmbeddedKeyNames,
  embeddedPaths,
  errorCodeOf,
  parseConfig,
  type Clock,
  type CountersignConfig,
  type RequesterPolicy,
} from '@countersign/contracts';
import { generateApiKey, hashApiKey } from '@countersign/requester';
import { ensureLocalSigner, keyFilePaths } from '@countersign/signing';
import { DEMO_API_KEY_FILE, demoPolicy } from '../demo/prepare.ts';
import { DEMO_ACCOUNTS } from '../demo/workload.ts';
import { renderConfigFile } from './config-template.ts';

/** Per account; the demo sends a few hundred orders a second over five accounts. */
export const INIT_MAX_ORDERS_PER_MINUTE = 60_000;

export interface InitOptions {
  /** The effective env (COUNTERSIGN_DATA_DIR names the directory; other variables are written). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock: Clock;
  /** Replace an existing file, keeping the old one as `config.jsonc.<time>.bak`. */
  readonly force?: boolean;
  /**
   * Keep the API key in this file (0600) instead of only printing it: `npm start` does, so its
   * curl example can read it. An existing file's key is reused (directories of older versions).
   */
  readonly keyFile?: string;
}

export interface InitResult {
  readonly file: string;
  /** The API key, in clear: print it once (or it is in `keyFile`). */
  readonly apiKey: string;
  readonly keyFile: string | null;
  /** Where the replaced file went (`force`). */
  readonly backup: string | null;
  readonly config: CountersignConfig;
}

/** init refuses: the file exists (without force), or the mode is not embedded. */
export class InitError extends CountersignError<'CONFIG_INVALID'> {
  constructor(
    message: string,
    readonly reason: 'EXISTS' | 'AWS_MODE',
  ) {
    super('CONFIG_INVALID', message);
    this.name = 'InitError';
  }
}

function apiKeyFor(keyFile: string | undefined): string {
  if (keyFile && existsSync(keyFile)) return readFileSync(keyFile, 'utf8').trim();
  const { key } = generateApiKey('default', DEMO_ACCOUNTS);
  if (!keyFile) return key;
  try {
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another first run wrote it at the same moment: use theirs.
    if (errorCodeOf(err) !== 'EEXIST') throw err;
    return readFileSync(keyFile, 'utf8').trim();
  }
  chmodSync(keyFile, 0o600);
  return key;
}

function policyFor(requesterId: string, jwksFile: string): RequesterPolicy {
  return { ...demoPolicy(requesterId), maxOrdersPerMinute: INIT_MAX_ORDERS_PER_MINUTE, jwksFile };
}

export async function initDataDir(options: InitOptions): Promise<InitResult> {
  // Defaults and env only: an existing file is what init replaces, not what it starts from.
  // Part `exchange` requires nothing: the mode is checked here, with its own message.
  const base = parseConfig({ env: options.env, part: 'exchange' });
  if (base.mode !== 'embedded') {
    throw new InitError(
      'init prepares an embedded data directory; on AWS the CDK app provides the configuration (infra/README.md)',
      'AWS_MODE',
    );
  }
  const paths = embeddedPaths(base.dataDir);
  const file = paths.configFile;
  if (existsSync(file) && !options.force) {
    throw new InitError(
      `${file} exists; keep it, or run init with --force to replace it (the old file is kept as a .bak)`,
      'EXISTS',
    );
  }
  mkdirSync(base.dataDir, { recursive: true, mode: 0o700 });
  // Keys first: the gateway trusts the requester's JWKS file, audit trusts the gateway's.
  await ensureLocalSigner(paths.keysDir, EmbeddedKeyNames.REQUESTER, base.requester.alg);
  await ensureLocalSigner(paths.keysDir, EmbeddedKeyNames.GATEWAY, base.gateway.alg);
  const apiKey = apiKeyFor(options.keyFile);
  const jwks = keyFilePaths(paths.keysDir, EmbeddedKeyNames.REQUESTER).jwksPath;
  const hasPolicy = base.gateway.policies.some((p) => p.id === base.requester.id);
  const config: CountersignConfig = {
    ...base,
    requester: {
      ...base.requester,
      apiKeys: [
        ...base.requester.apiKeys,
        { name: 'default', sha256: hashApiKey(apiKey), accounts: [...DEMO_ACCOUNTS] },
      ],
    },
    gateway: {
      ...base.gateway,
      policies: hasPolicy
        ? base.gateway.policies
        : [...base.gateway.policies, policyFor(base.requester.id, relative(base.dataDir, jwks))],
    },
  };
  const now = new Date(options.clock.now());
  const text = renderConfigFile(config, [
    `countersign configuration of this data directory, written by \`countersign init\` on ${now.toISOString().slice(0, 10)}.`,
    '',
    'Every countersign command run on this directory reads it (`--data-dir DIR` or',
    'COUNTERSIGN_DATA_DIR picks the directory; COUNTERSIGN_CONFIG_FILE names another file instead).',
    'An environment variable, named beside each field, overrides that field. Relative paths are',
    'relative to this directory. A bad field stops every command with its line here (exit 2).',
    'JSON with comments: // and /* */ comments and trailing commas are fine.',
  ]);
  let backup: string | null = null;
  if (existsSync(file)) {
    backup = `${file}.${now.toISOString().replace(/[:.]/g, '-')}.bak`;
    renameSync(file, backup);
  }
  try {
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if (errorCodeOf(err) !== 'EEXIST') throw err;
    throw new InitError(`${file} was written by another process meanwhile; keep it`, 'EXISTS');
  }
  return { file, apiKey, keyFile: options.keyFile ?? null, backup, config };
}

/** For `npm start`: the data directory's config file, created on the first run. */
export async function ensureDataDirConfig(
  env: Readonly<Record<string, string | undefined>>,
  clock: Clock,
): Promise<InitResult | null> {
  if (env.COUNTERSIGN_CONFIG_FILE) return null; // the operator named one
  const base = parseConfig({ env, part: 'exchange' });
  if (base.mode !== 'embedded' || existsSync(embeddedPaths(base.dataDir).configFile)) return null;
  try {
    return await initDataDir({ env, clock, keyFile: join(base.dataDir, DEMO_API_KEY_FILE) });
  } catch (err) {
    // A second first run raced this one: the file is there now, which is all that matters.
    if (err instanceof InitError && err.reason === 'EXISTS') return null;
    throw err;
  }
}
