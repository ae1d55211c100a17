// One configuration schema for every part, read from env and a configuration file: the data
// directory's `config.jsonc` (written by `countersign init`), or the file COUNTERSIGN_CONFIG_FILE
// names. Env wins over the file. Errors name the env variable, or the file, line and field path,
// of each bad field.
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  CONFIG_FILE_NAME,
  DEFAULT_DATA_DIR,
  readConfigText,
  type ConfigFile,
} from './config-file.ts';
import { AlgorithmSchema, DEFAULT_LIFETIME_SEC, MAX_LIFETIME_SEC } from './claims.ts';
import { decimalString } from './decimal.ts';
import { Identifier } from './ids.ts';
import { SYMBOL, Sides } from './txn.ts';
import { formatPath, type FieldIssue } from './validation.ts';
import { CountersignError } from './errors.ts';
import { KeySet } from './key-sets.ts';
import { isHttpsOrLoopback } from './secure-url.ts';

/** A whole number in [min, max], from a number or a numeric env string, with a plain message. */
function intIn(min: number, max: number = Number.MAX_SAFE_INTEGER) {
  const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
  const message = `must be a whole number ${range}`;
  return z.coerce.number({ error: message }).int(message).min(min, message).max(max, message);
}
const Port = intIn(0, 65535);

const PositiveInt = intIn(1);

/** A switch, from a boolean or an env string (on/off, true/false, 1/0). */
const OnOff = z.union([
  z.boolean(),
  z
    .enum(['on', 'off', 'true', 'false', '1', '0'])
    .transform((v) => ['on', 'true', '1'].includes(v)),
]);

/** What a requester may do at the gateway. `version` is derived (sha256 of the canonical policy). */
export const RequesterPolicy = z.strictObject({
  id: Identifier,
  accounts: z.array(Identifier).min(1),
  symbols: z.array(z.string().regex(SYMBOL, 'must look like "BTC-USD"')).min(1),
  sides: z
    .array(z.enum(Sides))
    .min(1)
    .default([...Sides]),
  maxNotional: decimalString({ intDigits: 20, fracDigits: 16 }),
  maxOrdersPerMinute: PositiveInt.default(600),
  /** Trusted public keys (JWKS: current and previous). Inline, or `keysFile`. */
  jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
  jwksFile: z.string().min(1).optional(),
  /** Trusted keys as a key set: KMS keys/aliases, JWKS files and URLs, with validity (key-sets.ts). */
  keys: KeySet.optional(),
});
export type RequesterPolicy = z.infer<typeof RequesterPolicy>;

/** A bearer API key of the requester HTTP API, stored as its SHA-256 (hex). */
export const ApiKeyEntry = z.strictObject({
  name: z.string().min(1).max(64),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the key'),
  accounts: z.array(Identifier).min(1),
});
export type ApiKeyEntry = z.infer<typeof ApiKeyEntry>;

const Bool = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1'),
]);

export const CountersignConfig = z.strictObject({
  mode: z.enum(['embedded', 'aws'], { error: 'must be "embedded" or "aws"' }).default('embedded'),
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  requester: z
    .strictObject({
      id: Identifier.default('demo-requester'),
      alg: AlgorithmSchema.default('ES256'),
      kmsKeyId: z.string().min(1).optional(),
      lifetimeSec: intIn(1, MAX_LIFETIME_SEC).default(DEFAULT_LIFETIME_SEC),
      host: z.string().min(1).default('127.0.0.1'),
      port: Port.default(8787),
      maxBodyBytes: PositiveInt.default(65_536),
      /** Signatures in flight; default 16 with KMS (its quota), 64 with the local signer. */
      signConcurrency: PositiveInt.optional(),
      apiKeys: z.array(ApiKeyEntry).default([]),
      /**
       * DynamoDB table of the Idempotency-Key records and of each order's status (aws mode;
       * embedded: SQLite in dataDir).
       */
      idempotencyTable: z.string().min(1).optional(),
      /**
       * Every key of this requester that verifiers trust (current and previous, with validity).
       * Default: `kmsKeyId` (aws), the key history `<dataDir>/keys/requester.jwks.json` (embedded).
       */
      publicKeys: KeySet.optional(),
      /**
       * One signature over a Merkle head for requests signed together (issue #20). Default: on in
       * aws mode (KMS's Sign quota is the limit there), off embedded.
       */
      batchSigning: OnOff.optional(),
      /**
       * AWS: an SQS queue the receipts rule feeds, consumed by a long-running requester itself
       * (on Lambda, the receipts function consumes it instead).
       */
      receiptsQueueUrl: z.string().url().optional(),
    })
    .prefault({}),
  gateway: z
    .strictObject({
      id: Identifier.default('demo-gateway'),
      alg: AlgorithmSchema.default('ES256'),
      kmsKeyId: z.string().min(1).optional(),
      partitions: intIn(1, 1024).default(1),
      // Messages in flight per worker. More of them share each group commit (embedded) and
      // hide SQS round trips; FIFO groups still go one message at a time.
      concurrency: PositiveInt.default(32),
      clockSkewSec: intIn(0, 300).default(30),
      maxTokenBytes: PositiveInt.default(8192),
      /** A checkpoint every N receipts of a stream… */
      checkpointEvery: PositiveInt.default(1000),
      /** …and every T seconds while the stream is active: the unprotected tail is seconds long. */
      checkpointIntervalSec: intIn(1, 3600).default(5),
      policies: z.array(RequesterPolicy).default([]),
      /**
       * Every receipt key of this gateway (current and previous, with validity) for audit and
       * the gateway's own start-up check. Default: `kmsKeyId` (aws), the key history (embedded).
       */
      publicKeys: KeySet.optional(),
      /**
       * Receipts of one stream that gather while a receipt signature is in flight share one
       * signature over a Merkle head (issue #20). Default: on in aws mode, off embedded.
       */
      receiptBatching: OnOff.optional(),
      /** Most receipts under one batch head. */
      receiptBatchMax: intIn(1, 65_536).default(256),
    })
    .prefault({}),
  queue: z
    .strictObject({
      url: z.string().url().optional(),
      // Short, so a message held by a killed consumer comes back soon; the worker's heartbeat
      // extends it for slow work. The nonce lease defaults to half of it plus the
      // exchange's place deadline (services/exchange-gateway/src/wiring.ts).
      visibilityTimeoutSec: PositiveInt.default(10),
      maxReceives: PositiveInt.default(5),
    })
    .prefault({}),
  bus: z
    .strictObject({
      name: z.string().min(1).default('countersign'),
      archiveArn: z.string().min(1).optional(),
    })
    .prefault({}),
  audit: z
    .strictObject({
      queueUrl: z.string().url().optional(),
      failOnFindings: Bool.default(true),
      /** What the audit remembers between runs; default `<dataDir>/audit-state.json`. */
      stateFile: z.string().min(1).optional(),
    })
    .prefault({}),
  /** Where the gateway's signed checkpoints go (and where audit reads them). */
  checkpoints: z
    .strictObject({
      /** Embedded: a second, append-only copy of the checkpoint log in this directory. */
      mirror: z.string().min(1).optional(),
      /** AWS: the S3 bucket (versioning + Object Lock) holding the checkpoints. */
      bucket: z.string().min(3).max(63).optional(),
    })
    .prefault({}),
  nonce: z.strictObject({ table: z.string().min(1).optional() }).prefault({}),
  exchange: z
    .strictObject({
      /** `paper`: the in-process PaperExchange. `http`: HttpExchange against `url`. */
      kind: z.enum(['paper', 'http'], { error: 'must be "paper" or "http"' }).default('paper'),
      /** The venue: part of the credentials' encryption context (with the gateway id). */
      name: Identifier.default('exchange-sim'),
      url: z
        .string()
        .url()
        // An exchange is reached over TLS; plain http only on this machine (the simulator).
        .refine(isHttpsOrLoopback, 'must be https:// (plain http:// only to a loopback host)')
        .optional(),
      /** Sealed credentials: a file path, or `ssm:<parameter name>`. */
      credentials: z.string().min(1).optional(),
      /** KMS key the credentials are sealed under; absent: the local KEK file (embedded). */
      kmsKeyId: z.string().min(1).optional(),
      /** Local key-encryption key (0600); default `<dataDir>/keys/exchange-kek.key`. */
      kekFile: z.string().min(1).optional(),
      /** One HTTP attempt; no answer by then = EXCHANGE_TIMEOUT (receipt UNKNOWN). */
      requestTimeoutMs: intIn(50, 60_000).default(2000),
      /** All attempts of one call (5xx, resets and 429 are retried until then). */
      deadlineMs: intIn(50, 300_000).default(5000),
      /** How old a signed request the exchange may accept (sent as a header). */
      recvWindowMs: intIn(100, 60_000).default(5000),
      /** Keep-alive connections to the exchange. */
      connections: intIn(1, 1024).default(16),
    })
    .prefault({}),
  /** Metrics and traces (issue 21). Off by default except `/metrics` on the requester's API. */
  observability: z
    .strictObject({
      /**
       * `GET /metrics` of the gateway worker and the live audit: a port on `metricsHost`
       * (absent: not served; 0: any free port).
       */
      metricsPort: Port.optional(),
      metricsHost: z.string().min(1).default('127.0.0.1'),
      /** Where spans go: nowhere (off), stdout (console) or an OTLP/HTTP collector. */
      tracing: z
        .enum(['off', 'console', 'otlp'], { error: 'must be "off", "console" or "otlp"' })
        .default('off'),
      /** OTLP/HTTP traces endpoint; default the SDK's (http://localhost:4318/v1/traces). */
      otlpEndpoint: z.string().url().optional(),
    })
    .prefault({}),
});
export type CountersignConfig = z.infer<typeof CountersignConfig>;
export type ConfigInput = z.input<typeof CountersignConfig>;

/** Env variable of each scalar config field. */
export const CONFIG_ENV = {
  COUNTERSIGN_MODE: ['mode'],
  COUNTERSIGN_DATA_DIR: ['dataDir'],
  COUNTERSIGN_LOG_LEVEL: ['logLevel'],
  COUNTERSIGN_REQUESTER_ID: ['requester', 'id'],
  COUNTERSIGN_REQUESTER_ALG: ['requester', 'alg'],
  COUNTERSIGN_REQUESTER_KMS_KEY_ID: ['requester', 'kmsKeyId'],
  COUNTERSIGN_TOKEN_LIFETIME_SEC: ['requester', 'lifetimeSec'],
  COUNTERSIGN_HTTP_HOST: ['requester', 'host'],
  COUNTERSIGN_HTTP_PORT: ['requester', 'port'],
  COUNTERSIGN_MAX_BODY_BYTES: ['requester', 'maxBodyBytes'],
  COUNTERSIGN_SIGN_CONCURRENCY: ['requester', 'signConcurrency'],
  COUNTERSIGN_API_KEYS: ['requester', 'apiKeys'],
  COUNTERSIGN_IDEMPOTENCY_TABLE: ['requester', 'idempotencyTable'],
  COUNTERSIGN_REQUESTER_PUBLIC_KEYS: ['requester', 'publicKeys'],
  COUNTERSIGN_BATCH_SIGNING: ['requester', 'batchSigning'],
  COUNTERSIGN_REQUESTER_RECEIPTS_QUEUE_URL: ['requester', 'receiptsQueueUrl'],
  COUNTERSIGN_GATEWAY_ID: ['gateway', 'id'],
  COUNTERSIGN_GATEWAY_ALG: ['gateway', 'alg'],
  COUNTERSIGN_GATEWAY_PUBLIC_KEYS: ['gateway', 'publicKeys'],
  COUNTERSIGN_GATEWAY_KMS_KEY_ID: ['gateway', 'kmsKeyId'],
  COUNTERSIGN_RECEIPT_BATCHING: ['gateway', 'receiptBatching'],
  COUNTERSIGN_RECEIPT_BATCH_MAX: ['gateway', 'receiptBatchMax'],
  COUNTERSIGN_PARTITIONS: ['gateway', 'partitions'],
  COUNTERSIGN_CONCURRENCY: ['gateway', 'concurrency'],
  COUNTERSIGN_CLOCK_SKEW_SEC: ['gateway', 'clockSkewSec'],
  COUNTERSIGN_MAX_TOKEN_BYTES: ['gateway', 'maxTokenBytes'],
  COUNTERSIGN_CHECKPOINT_EVERY: ['gateway', 'checkpointEvery'],
  COUNTERSIGN_CHECKPOINT_INTERVAL_SEC: ['gateway', 'checkpointIntervalSec'],
  COUNTERSIGN_CHECKPOINT_MIRROR: ['checkpoints', 'mirror'],
  COUNTERSIGN_CHECKPOINT_BUCKET: ['checkpoints', 'bucket'],
  COUNTERSIGN_POLICIES: ['gateway', 'policies'],
  COUNTERSIGN_QUEUE_URL: ['queue', 'url'],
  COUNTERSIGN_VISIBILITY_TIMEOUT_SEC: ['queue', 'visibilityTimeoutSec'],
  COUNTERSIGN_MAX_RECEIVES: ['queue', 'maxReceives'],
  COUNTERSIGN_EVENT_BUS: ['bus', 'name'],
  COUNTERSIGN_ARCHIVE_ARN: ['bus', 'archiveArn'],
  COUNTERSIGN_AUDIT_QUEUE_URL: ['audit', 'queueUrl'],
  COUNTERSIGN_AUDIT_STATE: ['audit', 'stateFile'],
  COUNTERSIGN_NONCE_TABLE: ['nonce', 'table'],
  COUNTERSIGN_EXCHANGE: ['exchange', 'kind'],
  COUNTERSIGN_EXCHANGE_NAME: ['exchange', 'name'],
  COUNTERSIGN_EXCHANGE_URL: ['exchange', 'url'],
  COUNTERSIGN_EXCHANGE_CREDENTIALS: ['exchange', 'credentials'],
  COUNTERSIGN_EXCHANGE_KMS_KEY_ID: ['exchange', 'kmsKeyId'],
  COUNTERSIGN_EXCHANGE_KEK_FILE: ['exchange', 'kekFile'],
  COUNTERSIGN_EXCHANGE_TIMEOUT_MS: ['exchange', 'requestTimeoutMs'],
  COUNTERSIGN_EXCHANGE_DEADLINE_MS: ['exchange', 'deadlineMs'],
  COUNTERSIGN_EXCHANGE_RECV_WINDOW_MS: ['exchange', 'recvWindowMs'],
  COUNTERSIGN_EXCHANGE_CONNECTIONS: ['exchange', 'connections'],
  COUNTERSIGN_METRICS_PORT: ['observability', 'metricsPort'],
  COUNTERSIGN_METRICS_HOST: ['observability', 'metricsHost'],
  COUNTERSIGN_TRACING: ['observability', 'tracing'],
  COUNTERSIGN_OTLP_ENDPOINT: ['observability', 'otlpEndpoint'],
} as const satisfies Record<string, readonly string[]>;

/** Fields that must be set in AWS mode, by the part being started. */
export const Parts = [
  'requester',
  'gateway',
  'audit',
  'all',
  'exchange',
  'receipts',
  'keys',
  'queue',
] as const;
export type Part = (typeof Parts)[number];
const AWS_REQUIRED: Record<Part, readonly (keyof typeof CONFIG_ENV)[]> = {
  // The exchange tools (credentials seal/check, the simulator) need nothing of the pipeline.
  exchange: [],
  // The key tools (`keys jwks` prints a key set from its trust configuration or KMS key id alone).
  keys: [],
  // The DLQ tools (`queue dlq`, `queue redrive`): the requests queue, whose redrive policy names
  // its DLQ.
  queue: ['COUNTERSIGN_QUEUE_URL'],
  // The requester's receipts side (the receipts Lambda, `request status`): the gateway's key to
  // verify receipts and the table of the orders; nothing to sign or send with.
  receipts: ['COUNTERSIGN_GATEWAY_KMS_KEY_ID', 'COUNTERSIGN_IDEMPOTENCY_TABLE'],
  // The gateway's key: the requester verifies every receipt it stores and serves.
  requester: [
    'COUNTERSIGN_REQUESTER_KMS_KEY_ID',
    'COUNTERSIGN_GATEWAY_KMS_KEY_ID',
    'COUNTERSIGN_QUEUE_URL',
    'COUNTERSIGN_IDEMPOTENCY_TABLE',
  ],
  gateway: ['COUNTERSIGN_GATEWAY_KMS_KEY_ID', 'COUNTERSIGN_QUEUE_URL', 'COUNTERSIGN_NONCE_TABLE'],
  audit: ['COUNTERSIGN_AUDIT_QUEUE_URL'],
  all: [
    'COUNTERSIGN_REQUESTER_KMS_KEY_ID',
    'COUNTERSIGN_GATEWAY_KMS_KEY_ID',
    'COUNTERSIGN_QUEUE_URL',
    'COUNTERSIGN_IDEMPOTENCY_TABLE',
    'COUNTERSIGN_NONCE_TABLE',
    'COUNTERSIGN_AUDIT_QUEUE_URL',
  ],
};

const JSON_FIELDS = new Set<string>([
  'COUNTERSIGN_API_KEYS',
  'COUNTERSIGN_POLICIES',
  'COUNTERSIGN_REQUESTER_PUBLIC_KEYS',
  'COUNTERSIGN_GATEWAY_PUBLIC_KEYS',
]);

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  path.slice(0, -1).forEach((key) => {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  });
  node[path[path.length - 1]!] = value;
}

function getPath(source: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>(
    (node, key) =>
      typeof node === 'object' && node !== null
        ? (node as Record<string, unknown>)[key]
        : undefined,
    source,
  );
}

/** The env variable of the field at `path` (and the rest of the path inside its JSON value). */
function envNameFor(
  path: readonly PropertyKey[],
  env?: Readonly<Record<string, string | undefined>>,
): string | undefined {
  for (const [name, envPath] of Object.entries(CONFIG_ENV)) {
    if (env && !env[name]) continue;
    if (envPath.every((seg, i) => path[i] === seg)) {
      const rest = path.slice(envPath.length);
      return rest.length === 0 ? name : `${name} ${formatPath(rest)}`;
    }
  }
  return undefined;
}

/** Where a field's value came from, for messages: the env variable that set it, or the file. */
function sourceOf(path: readonly PropertyKey[], sources: ConfigSources): string {
  const fromEnv = envNameFor(path, sources.env);
  if (fromEnv) return fromEnv;
  const origin = sources.fileOrigin;
  if (origin && path.length > 0 && getPath(sources.file, [String(path[0])]) !== undefined) {
    return `${origin.path}:${origin.position(path)} ${formatPath(path)}`;
  }
  return envNameFor(path) ?? formatPath(path);
}

export class ConfigError extends CountersignError<'CONFIG_INVALID'> {
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[]) {
    super(
      'CONFIG_INVALID',
      `invalid configuration:\n${issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Content of the config file (parsed JSON), if any (see `readConfigFile`). */
  readonly file?: unknown;
  /** Where `file` came from: its path and the line of each field, for messages. */
  readonly fileOrigin?: Pick<ConfigFile, 'path' | 'position'>;
  readonly part?: Part;
}

/** Pure: merges file and env, validates, returns the config or throws a ConfigError. */
export function parseConfig(sources: ConfigSources): CountersignConfig {
  const { env, file, part = 'all' } = sources;
  const issues: FieldIssue[] = [];
  const merged: Record<string, unknown> =
    typeof file === 'object' && file !== null && !Array.isArray(file)
      ? structuredClone(file as Record<string, unknown>)
      : {};
  if (file !== undefined && (typeof file !== 'object' || file === null || Array.isArray(file))) {
    issues.push({
      path: sources.fileOrigin?.path ?? 'COUNTERSIGN_CONFIG_FILE',
      message: 'must contain a JSON object',
    });
  }
  for (const [name, path] of Object.entries(CONFIG_ENV)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (JSON_FIELDS.has(name)) {
      try {
        setPath(merged, path, JSON.parse(raw));
      } catch {
        issues.push({ path: name, message: 'must be valid JSON' });
      }
    } else {
      setPath(merged, path, raw);
    }
  }
  const res = CountersignConfig.safeParse(merged);
  if (!res.success) {
    for (const i of res.error.issues) {
      // An unknown key is reported where it stands.
      const at = i.code === 'unrecognized_keys' && i.keys[0] ? [...i.path, i.keys[0]] : i.path;
      issues.push({ path: sourceOf(at, sources), message: i.message });
    }
    throw new ConfigError(issues);
  }
  if (res.data.mode === 'aws') {
    for (const name of AWS_REQUIRED[part]) {
      if (getPath(res.data, CONFIG_ENV[name]) === undefined)
        issues.push({ path: name, message: 'required in aws mode' });
    }
  }
  issues.push(...exchangeIssues(res.data, part));
  if (issues.length > 0) throw new ConfigError(issues);
  return res.data;
}

/** What an HTTP exchange needs, for the parts that run the gateway. */
function exchangeIssues(config: CountersignConfig, part: Part): FieldIssue[] {
  const ex = config.exchange;
  if (ex.kind !== 'http' || (part !== 'gateway' && part !== 'all')) return [];
  const missing = (name: keyof typeof CONFIG_ENV, why: string): FieldIssue[] =>
    getPath(config, CONFIG_ENV[name]) === undefined ? [{ path: name, message: why }] : [];
  const inAws = 'required when COUNTERSIGN_EXCHANGE=http in aws mode';
  return [
    ...missing('COUNTERSIGN_EXCHANGE_URL', 'required when COUNTERSIGN_EXCHANGE=http'),
    // Embedded: the data dir's sealed file and local key file. AWS: no local files on Lambda.
    ...(config.mode === 'aws'
      ? [
          ...missing('COUNTERSIGN_EXCHANGE_CREDENTIALS', inAws),
          ...missing('COUNTERSIGN_EXCHANGE_KMS_KEY_ID', inAws),
        ]
      : []),
  ];
}

/**
 * Reads the configuration file: the one COUNTERSIGN_CONFIG_FILE names (it must exist), else
 * `<dataDir>/config.jsonc` when it exists (dataDir from COUNTERSIGN_DATA_DIR, else the default).
 */
export function readConfigFile(
  env: Readonly<Record<string, string | undefined>>,
): ConfigFile | undefined {
  const named = env.COUNTERSIGN_CONFIG_FILE;
  const dataDir = env.COUNTERSIGN_DATA_DIR || DEFAULT_DATA_DIR;
  const parsed = named
    ? readConfigText(named, { optional: false, inDataDir: false })
    : readConfigText(join(dataDir, CONFIG_FILE_NAME), { optional: true, inDataDir: true });
  if (parsed === undefined) return undefined;
  if (!parsed.ok) throw new ConfigError(parsed.issues);
  const file = parsed.value;
  // The data directory's own file lives where the data directory is; it cannot move it.
  const data = file.data as { dataDir?: unknown };
  if (file.inDataDir && data.dataDir !== undefined) {
    if (typeof data.dataDir === 'string' && resolve(data.dataDir) === resolve(dataDir)) {
      delete data.dataDir;
    } else {
      throw new ConfigError([
        {
          path: `${file.path}:${file.position(['dataDir'])} dataDir`,
          message:
            'the config file inside a data directory cannot name another one (use COUNTERSIGN_DATA_DIR or --data-dir, or name a file elsewhere with COUNTERSIGN_CONFIG_FILE)',
        },
      ]);
    }
  }
  return file;
}

/** The whole configuration of a process: defaults < config file < env. */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  part: Part = 'all',
): CountersignConfig {
  const file = readConfigFile(env);
  return parseConfig({
    env,
    ...(file ? { file: file.data, fileOrigin: file } : {}),
    part,
  });
}
