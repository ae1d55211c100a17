// Deploy-time settings of the stack: typed props with defaults, and a parser for CDK context
// (`cdk deploy -c keySpec=ECC_NIST_P384 ...`). Context values arrive as strings from the CLI and
// as JSON values from cdk.json; both are accepted, anything else fails synth with the key's name.

export const KEY_SPECS = ['RSA_2048', 'ECC_NIST_P256', 'ECC_NIST_P384'] as const;
export type SigningKeySpec = (typeof KEY_SPECS)[number];

export const RSA_ALGS = ['RS256', 'PS256'] as const;
export type RsaAlg = (typeof RSA_ALGS)[number];
export type SigningAlg = RsaAlg | 'ES256' | 'ES384';

/** One generation of an asymmetric key. The last entry of a list is the one that signs. */
export interface KeyVersion {
  readonly version: number;
  readonly keySpec: SigningKeySpec;
}

export type TableEncryptionSetting = 'aws-managed' | 'customer-managed';

export interface CountersignSettings {
  /** Requester signing keys, oldest first; older ones stay trusted for verification only. */
  readonly requesterKeys: readonly KeyVersion[];
  /** Gateway receipt keys, oldest first; audit keeps reading the public keys of old ones. */
  readonly gatewayKeys: readonly KeyVersion[];
  /** JOSE alg used with an RSA_2048 key (ECC specs imply ES256 / ES384). */
  readonly rsaAlg: RsaAlg;
  /** Key administrators; empty = the account root, i.e. administration delegated to IAM. */
  readonly keyAdminArns: readonly string[];
  readonly requesterId: string;
  readonly gatewayId: string;
  /** Receipt streams per gateway (hash(sub) mod P); one stream has one writer at a time. */
  readonly partitions: number;
  readonly busName: string;
  readonly archiveRetentionDays: number;
  readonly maxReceiveCount: number;
  readonly gatewayTimeoutSec: number;
  readonly gatewayBatchSize: number;
  readonly gatewayMaxConcurrency: number;
  readonly tableEncryption: TableEncryptionSetting;
  /** Grants the audit role events:StartReplay/DescribeReplay on the archive. */
  readonly auditReplay: boolean;
  /** The S3 checkpoint store (versioning + Object Lock): without it a cut tail is invisible. */
  readonly checkpointBucket: boolean;
  /** Object Lock compliance retention of each checkpoint version. */
  readonly checkpointRetentionDays: number;
  /** Alarm when the oldest request waits longer than this (tokens live 60 s by default). */
  readonly oldestMessageAlarmSec: number;
  /** The account's kms:Sign quota for the key type (per second): alarm at 80 % of it. */
  readonly kmsSignQuotaPerSec: number;
  /** IAM principals allowed to call the requester function URL (SigV4). */
  readonly requesterInvokerArns: readonly string[];
  /** Requester policies for the gateway (JSON array, passed as COUNTERSIGN_POLICIES). */
  readonly gatewayPolicies: string | undefined;
  /** `paper` (in the function's memory, a demo) or `http`: HttpExchange with sealed credentials. */
  readonly exchange: ExchangeKind;
  /** The venue's REST API (https), with `exchange=http`. */
  readonly exchangeUrl: string | undefined;
  /** The venue's name in the credentials' encryption context. */
  readonly exchangeName: string;
  /** SSM parameter of the sealed credentials; default `/countersign/<gatewayId>/exchange-credentials`. */
  readonly exchangeParameter: string | undefined;
  /** Who may seal credentials (kms:GenerateDataKey); empty = the key administrators. */
  readonly exchangeSealerArns: readonly string[];
}

export const EXCHANGE_KINDS = ['paper', 'http'] as const;
export type ExchangeKind = (typeof EXCHANGE_KINDS)[number];

export const DEFAULT_SETTINGS: CountersignSettings = {
  requesterKeys: [{ version: 1, keySpec: 'ECC_NIST_P256' }],
  gatewayKeys: [{ version: 1, keySpec: 'ECC_NIST_P256' }],
  rsaAlg: 'RS256',
  keyAdminArns: [],
  requesterId: 'countersign-requester',
  gatewayId: 'countersign-gateway',
  partitions: 16,
  busName: 'countersign',
  archiveRetentionDays: 365,
  maxReceiveCount: 5,
  gatewayTimeoutSec: 30,
  gatewayBatchSize: 10,
  gatewayMaxConcurrency: 16,
  tableEncryption: 'aws-managed',
  auditReplay: false,
  checkpointBucket: true,
  checkpointRetentionDays: 365,
  oldestMessageAlarmSec: 60,
  kmsSignQuotaPerSec: 300,
  requesterInvokerArns: [],
  gatewayPolicies: undefined,
  exchange: 'paper',
  exchangeUrl: undefined,
  exchangeName: 'exchange',
  exchangeParameter: undefined,
  exchangeSealerArns: [],
};

/** Context keys read by `settingsFromContext`, for docs and for the unknown-key check. */
export const CONTEXT_KEYS = [
  'keySpec',
  'requesterKeys',
  'gatewayKeys',
  'rsaAlg',
  'keyAdminArns',
  'requesterId',
  'gatewayId',
  'partitions',
  'busName',
  'archiveRetentionDays',
  'maxReceiveCount',
  'gatewayTimeoutSec',
  'gatewayBatchSize',
  'gatewayMaxConcurrency',
  'tableEncryption',
  'auditReplay',
  'checkpointBucket',
  'checkpointRetentionDays',
  'oldestMessageAlarmSec',
  'kmsSignQuotaPerSec',
  'requesterInvokerArns',
  'gatewayPolicies',
  'exchange',
  'exchangeUrl',
  'exchangeName',
  'exchangeParameter',
  'exchangeSealerArns',
] as const;

export class InfraSettingsError extends Error {
  constructor(key: string, message: string) {
    super(`context "${key}": ${message}`);
    this.name = 'InfraSettingsError';
  }
}

const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const ARN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_/:-]+$/;

function int(key: string, raw: unknown, min: number, max: number): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw.trim()) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InfraSettingsError(key, `must be an integer from ${min} to ${max}`);
  }
  return n;
}

function bool(key: string, raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new InfraSettingsError(key, 'must be true or false');
}

function oneOf<T extends string>(key: string, raw: unknown, allowed: readonly T[]): T {
  if (typeof raw === 'string' && (allowed as readonly string[]).includes(raw)) return raw as T;
  throw new InfraSettingsError(key, `must be one of ${allowed.join(', ')}`);
}

function list(key: string, raw: unknown): string[] {
  const items =
    typeof raw === 'string'
      ? raw.split(',')
      : Array.isArray(raw)
        ? raw.map((v) => String(v))
        : null;
  if (items === null) throw new InfraSettingsError(key, 'must be a comma-separated list');
  return items.map((s) => s.trim()).filter((s) => s !== '');
}

function identifier(key: string, raw: unknown): string {
  if (typeof raw === 'string' && ID.test(raw)) return raw;
  throw new InfraSettingsError(key, 'must match [A-Za-z0-9._:-]{1,64}');
}

/** Bus names allow [A-Za-z0-9._-]; 39 leaves room for the archive name "<bus>-receipts" (48). */
function busName(raw: unknown): string {
  if (typeof raw === 'string' && /^[A-Za-z0-9._-]{1,39}$/.test(raw)) return raw;
  throw new InfraSettingsError('busName', 'must match [A-Za-z0-9._-]{1,39}');
}

/** "1" | "1,2:ECC_NIST_P384" | [1, "2:RSA_2048"]: ascending versions, optional spec per version. */
export function parseKeyVersions(
  key: string,
  raw: unknown,
  defaultSpec: SigningKeySpec,
): KeyVersion[] {
  const entries = typeof raw === 'number' ? [String(raw)] : list(key, raw);
  if (entries.length === 0) throw new InfraSettingsError(key, 'needs at least one key version');
  const versions = entries.map((entry) => {
    const [v, spec, extra] = entry.split(':');
    if (extra !== undefined) throw new InfraSettingsError(key, `bad entry "${entry}"`);
    return {
      version: int(key, v, 1, 999),
      keySpec: spec === undefined ? defaultSpec : oneOf(key, spec, KEY_SPECS),
    };
  });
  versions.forEach((v, i) => {
    const prev = versions[i - 1];
    if (prev !== undefined && prev.version >= v.version) {
      throw new InfraSettingsError(key, 'versions must be strictly ascending (oldest first)');
    }
  });
  return versions;
}

/** Builds settings from a context getter (`node.tryGetContext`); unset keys take the defaults. */
export function settingsFromContext(get: (key: string) => unknown): CountersignSettings {
  const has = (key: string): boolean => get(key) !== undefined && get(key) !== null;
  const d = DEFAULT_SETTINGS;
  const keySpec = has('keySpec') ? oneOf('keySpec', get('keySpec'), KEY_SPECS) : 'ECC_NIST_P256';
  const arns = (key: string): string[] => {
    const values = has(key) ? list(key, get(key)) : [];
    const bad = values.find((a) => !ARN.test(a));
    if (bad !== undefined) throw new InfraSettingsError(key, `"${bad}" is not an IAM ARN`);
    return values;
  };
  return {
    requesterKeys: parseKeyVersions('requesterKeys', get('requesterKeys') ?? '1', keySpec),
    gatewayKeys: parseKeyVersions('gatewayKeys', get('gatewayKeys') ?? '1', keySpec),
    rsaAlg: has('rsaAlg') ? oneOf('rsaAlg', get('rsaAlg'), RSA_ALGS) : d.rsaAlg,
    keyAdminArns: arns('keyAdminArns'),
    requesterId: has('requesterId') ? identifier('requesterId', get('requesterId')) : d.requesterId,
    gatewayId: has('gatewayId') ? identifier('gatewayId', get('gatewayId')) : d.gatewayId,
    partitions: has('partitions') ? int('partitions', get('partitions'), 1, 1024) : d.partitions,
    busName: has('busName') ? busName(get('busName')) : d.busName,
    archiveRetentionDays: has('archiveRetentionDays')
      ? int('archiveRetentionDays', get('archiveRetentionDays'), 1, 3650)
      : d.archiveRetentionDays,
    maxReceiveCount: has('maxReceiveCount')
      ? int('maxReceiveCount', get('maxReceiveCount'), 1, 1000)
      : d.maxReceiveCount,
    // 6 x timeout must stay within the SQS visibility limit of 12 h.
    gatewayTimeoutSec: has('gatewayTimeoutSec')
      ? int('gatewayTimeoutSec', get('gatewayTimeoutSec'), 3, 900)
      : d.gatewayTimeoutSec,
    gatewayBatchSize: has('gatewayBatchSize')
      ? int('gatewayBatchSize', get('gatewayBatchSize'), 1, 10)
      : d.gatewayBatchSize,
    gatewayMaxConcurrency: has('gatewayMaxConcurrency')
      ? int('gatewayMaxConcurrency', get('gatewayMaxConcurrency'), 2, 1000)
      : d.gatewayMaxConcurrency,
    tableEncryption: has('tableEncryption')
      ? oneOf('tableEncryption', get('tableEncryption'), ['aws-managed', 'customer-managed'])
      : d.tableEncryption,
    auditReplay: has('auditReplay') ? bool('auditReplay', get('auditReplay')) : d.auditReplay,
    checkpointBucket: has('checkpointBucket')
      ? bool('checkpointBucket', get('checkpointBucket'))
      : d.checkpointBucket,
    checkpointRetentionDays: has('checkpointRetentionDays')
      ? int('checkpointRetentionDays', get('checkpointRetentionDays'), 1, 36500)
      : d.checkpointRetentionDays,
    oldestMessageAlarmSec: has('oldestMessageAlarmSec')
      ? int('oldestMessageAlarmSec', get('oldestMessageAlarmSec'), 1, 86_400)
      : d.oldestMessageAlarmSec,
    kmsSignQuotaPerSec: has('kmsSignQuotaPerSec')
      ? int('kmsSignQuotaPerSec', get('kmsSignQuotaPerSec'), 1, 100_000)
      : d.kmsSignQuotaPerSec,
    requesterInvokerArns: arns('requesterInvokerArns'),
    gatewayPolicies: has('gatewayPolicies') ? policiesJson(get('gatewayPolicies')) : undefined,
    ...exchangeSettings(get, has, arns),
  };
}

function exchangeSettings(
  get: (key: string) => unknown,
  has: (key: string) => boolean,
  arns: (key: string) => string[],
): Pick<
  CountersignSettings,
  'exchange' | 'exchangeUrl' | 'exchangeName' | 'exchangeParameter' | 'exchangeSealerArns'
> {
  const d = DEFAULT_SETTINGS;
  const exchange = has('exchange')
    ? oneOf('exchange', get('exchange'), EXCHANGE_KINDS)
    : d.exchange;
  const url = has('exchangeUrl') ? get('exchangeUrl') : undefined;
  if (url !== undefined && (typeof url !== 'string' || !/^https:\/\/[^\s/]+(\/\S*)?$/.test(url))) {
    throw new InfraSettingsError('exchangeUrl', 'must be an https:// URL');
  }
  if (exchange === 'http' && url === undefined) {
    throw new InfraSettingsError('exchangeUrl', 'is required with exchange=http');
  }
  const parameter = has('exchangeParameter') ? get('exchangeParameter') : undefined;
  if (
    parameter !== undefined &&
    (typeof parameter !== 'string' || !/^\/[A-Za-z0-9_.\-/]{1,1000}$/.test(parameter))
  ) {
    throw new InfraSettingsError(
      'exchangeParameter',
      'must be an SSM parameter path like /countersign/gw/exchange-credentials',
    );
  }
  return {
    exchange,
    exchangeUrl: url,
    exchangeName: has('exchangeName')
      ? identifier('exchangeName', get('exchangeName'))
      : d.exchangeName,
    exchangeParameter: parameter,
    exchangeSealerArns: arns('exchangeSealerArns'),
  };
}

/** Checked only for shape here; the gateway validates each policy at start (contracts schema). */
function policiesJson(raw: unknown): string {
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      throw new InfraSettingsError('gatewayPolicies', 'must be a JSON array');
    }
  }
  if (!Array.isArray(value))
    throw new InfraSettingsError('gatewayPolicies', 'must be a JSON array');
  return JSON.stringify(value);
}

/** The JOSE alg a key of this spec signs with. */
export function algFor(spec: SigningKeySpec, rsaAlg: RsaAlg): SigningAlg {
  switch (spec) {
    case 'ECC_NIST_P256':
      return 'ES256';
    case 'ECC_NIST_P384':
      return 'ES384';
    case 'RSA_2048':
      return rsaAlg;
  }
}

/** KMS SigningAlgorithm for a JOSE alg (DESIGN.md §4); used in the kms:SigningAlgorithm condition. */
export const KMS_SIGNING_ALGORITHM: Record<SigningAlg, string> = {
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
  PS256: 'RSASSA_PSS_SHA_256',
  ES256: 'ECDSA_SHA_256',
  ES384: 'ECDSA_SHA_384',
};
