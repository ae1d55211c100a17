// The text of the commented configuration file `countersign init` writes: every field of the
// schema with its value (the defaults written out) and a line saying what it does and which
// environment variable overrides it. Values come from the parsed configuration, so a default
// changed in the schema changes the file; a field without a line here fails a unit test.
import { CONFIG_ENV, CountersignError, type CountersignConfig } from '@countersign/contracts';

/** One line per field, by path (`[]` stands for every element of an array). */
export const FIELD_DOCS: Readonly<Record<string, string>> = {
  mode: '"embedded": local keys and SQLite files in this directory; "aws": KMS, SQS, EventBridge, DynamoDB',
  logLevel: 'pino level of the JSON logs on stderr (they never hold tokens or keys)',
  requester:
    'The requester: signs each order (`countersign requester`, `countersign request submit`)',
  'requester.id': '`iss` of every request token; the gateway policy below is keyed by it',
  'requester.alg': 'signing algorithm: RS256, PS256, ES256 or ES384',
  'requester.kmsKeyId': 'aws mode: its KMS key (id, ARN or alias); embedded: keys/requester.pem',
  'requester.lifetimeSec': 'request token lifetime in seconds (at most 300)',
  'requester.host': 'address of the HTTP API',
  'requester.port': 'port of the HTTP API (0: any free port)',
  'requester.maxBodyBytes': 'larger HTTP bodies are answered 413',
  'requester.signConcurrency': 'signatures in flight (default: 64 with a local key, 16 with KMS)',
  'requester.apiKeys':
    'Bearer keys of the HTTP API, stored only as their SHA-256 (the key itself was printed once)',
  'requester.apiKeys[].name': 'logged with each request (never the key)',
  'requester.apiKeys[].sha256': 'hex SHA-256 of the key',
  'requester.apiKeys[].accounts': 'the accounts this key may submit orders for',
  'requester.idempotencyTable': 'aws mode: DynamoDB table of Idempotency-Key records',
  'requester.publicKeys':
    'every requester key verifiers trust (KMS keys/aliases, JWKS files/URLs, with nbf/exp); default its key history',
  'requester.batchSigning':
    'true: requests signed together share one signature over a Merkle head (issue #20); default on in aws mode, off embedded',
  'requester.receiptsQueueUrl':
    "aws mode: the requester's own receipts queue (order status), when it consumes it itself",
  gateway: 'The exchange gateway: verifies, executes once, signs receipts (`countersign gateway`)',
  'gateway.id': '`aud` of request tokens and `iss` of receipts',
  'gateway.alg': 'receipt signing algorithm: RS256, PS256, ES256 or ES384',
  'gateway.kmsKeyId': 'aws mode: its KMS key; embedded: keys/gateway.pem',
  'gateway.partitions': 'receipt streams (one writer each); an account always maps to one stream',
  'gateway.concurrency': 'messages in flight (FIFO groups stay in order)',
  'gateway.clockSkewSec': 'clock skew allowed on nbf/exp/iat (at most 300)',
  'gateway.maxTokenBytes': 'request tokens above this are REJECTED TOKEN_TOO_LARGE',
  'gateway.receiptBatching':
    "true: a stream's receipts that gather while a receipt signature is in flight share one signature over a Merkle head (default: on in aws mode, off embedded)",
  'gateway.receiptBatchMax': 'most receipts under one batch head (default 256)',
  'gateway.checkpointEvery': 'a signed checkpoint every N receipts of a stream…',
  'gateway.checkpointIntervalSec': '…and every T seconds while it is active',
  'gateway.policies':
    'What each requester may do, and the keys the gateway trusts for it (no policy: REJECTED NO_POLICY)',
  'gateway.policies[].id': 'the requester id (`iss`) this policy is for',
  'gateway.policies[].accounts': 'accounts (`sub`) it may trade for',
  'gateway.policies[].symbols': 'symbols it may trade',
  'gateway.policies[].sides': 'buy and/or sell',
  'gateway.policies[].maxNotional': 'largest quantity × limit price of one order (decimal string)',
  'gateway.policies[].maxOrdersPerMinute':
    'per account; the demo (`npm start`) sends a few hundred a second, a real bot gets a real limit',
  'gateway.publicKeys':
    'every gateway receipt key verifiers trust (as requester.publicKeys); default its key history',
  'gateway.policies[].keys':
    'trusted keys of this requester as a key set (KMS keys/aliases, JWKS files/URLs, nbf/exp)',
  'gateway.policies[].jwks': 'trusted public keys inline (a JWKS), instead of jwksFile',
  'gateway.policies[].jwksFile':
    'trusted public keys of the requester (JWKS: current and previous during a rotation)',
  queue: 'The request queue (embedded: queue.sqlite here; aws: SQS FIFO)',
  'queue.url': 'aws mode: the SQS FIFO queue URL',
  'queue.visibilityTimeoutSec':
    'a message held by a stopped consumer comes back after this (a heartbeat extends it)',
  'queue.maxReceives': 'receives before a message goes to the dead-letter queue',
  bus: 'The receipt bus and archive (embedded: bus.sqlite here; aws: EventBridge)',
  'bus.name': 'EventBridge bus name (aws mode)',
  'bus.archiveArn': 'aws mode: the archive `audit replay` reads',
  audit: 'The audit (`countersign audit live|replay|reconcile`)',
  'audit.queueUrl': 'aws mode: the SQS queue the receipts rule feeds',
  'audit.failOnFindings': 'exit 3 when the audit finds anything (false: report only)',
  'audit.stateFile': 'what the audit remembers between runs (default audit-state.json here)',
  checkpoints: 'Where the gateway keeps its signed checkpoints (the proof that no tail was cut)',
  'checkpoints.mirror': 'embedded: a directory on another disk that gets a copy of each checkpoint',
  'checkpoints.bucket': 'aws mode: the S3 bucket (versioning + Object Lock)',
  nonce: 'The nonce store (embedded: nonces.sqlite here; aws: DynamoDB)',
  'nonce.table': 'aws mode: the DynamoDB nonce table',
  exchange: 'The exchange the gateway executes on',
  'exchange.kind': '"paper": the in-process paper exchange; "http": a REST exchange (HttpExchange)',
  'exchange.name': "the venue, part of the sealed credentials' encryption context",
  'exchange.url': 'http kind: the exchange API (https://, or http:// to this machine only)',
  'exchange.credentials':
    'http kind: sealed API credentials, a file or ssm:<name> (default exchange-credentials.sealed.json here)',
  'exchange.kmsKeyId': 'KMS key the credentials are sealed under (else the local key file)',
  'exchange.kekFile': 'the local key-encryption key (default keys/exchange-kek.key here)',
  'exchange.requestTimeoutMs':
    'one HTTP attempt; no answer by then = receipt UNKNOWN, reconciled later',
  'exchange.deadlineMs': 'all retries of one call',
  'exchange.recvWindowMs': 'how old a signed request the exchange may accept',
  'exchange.connections': 'keep-alive connections to the exchange',
  observability: 'Metrics and traces',
  'observability.metricsPort':
    'GET /metrics of the gateway worker and the live audit (not served when unset; 0: any port)',
  'observability.metricsHost': 'address of that /metrics listener',
  'observability.tracing': '"off", "console" or "otlp": where OpenTelemetry spans go',
  'observability.otlpEndpoint':
    'OTLP/HTTP traces endpoint (default http://localhost:4318/v1/traces)',
};

/** Free-form values (a JWKS), written as plain JSON. */
const FREE_FORM = new Set([
  'gateway.policies[].jwks',
  'gateway.policies[].keys',
  'requester.publicKeys',
  'gateway.publicKeys',
]);

/** Fields the file never holds: the data directory is where the file is. */
const LEFT_OUT = new Set(['dataDir']);

const ENV_OF = new Map<string, string>(
  Object.entries(CONFIG_ENV).map(([name, path]) => [path.join('.'), name]),
);

/** Optional fields of each object (from CONFIG_ENV), shown as comments when they are not set. */
function optionalKeys(parent: string): string[] {
  const prefix = parent === '' ? '' : `${parent}.`;
  return [...ENV_OF.keys()]
    .filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('.'))
    .map((p) => p.slice(prefix.length));
}

const WIDTH = 100;

/** Words wrapped into `//` lines of at most WIDTH characters (a long word stays whole). */
function commentLines(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent.length + 3 + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.map((l) => `${indent}// ${l}`);
}

function docLines(path: string, indent: string): string[] {
  const doc = FIELD_DOCS[path];
  if (doc === undefined) {
    throw new CountersignError('INTERNAL', `no doc line for config field ${path}`);
  }
  const env = ENV_OF.get(path);
  return commentLines(`${doc}${env ? ` [env ${env}]` : ''}`, indent);
}

function emit(value: unknown, path: string, indent: string): string {
  const inner = `${indent}  `;
  if (FREE_FORM.has(path)) return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => typeof v !== 'object' || v === null)) {
      return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
    }
    const items = value.map((v) => `${inner}${emit(v, `${path}[]`, inner)}`);
    return `[\n${items.join(',\n')},\n${indent}]`;
  }
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  const obj = value as Record<string, unknown>;
  const lines: string[] = ['{'];
  const child = (key: string) => (path === '' ? key : `${path}.${key}`);
  for (const [key, v] of Object.entries(obj)) {
    if (v === undefined || (path === '' && LEFT_OUT.has(key))) continue;
    const p = child(key);
    // Array elements document their fields, not the element's position.
    lines.push(...docLines(p, inner), `${inner}${JSON.stringify(key)}: ${emit(v, p, inner)},`);
  }
  for (const key of path.endsWith('[]') ? [] : optionalKeys(path)) {
    if (obj[key] !== undefined || LEFT_OUT.has(key)) continue;
    const p = child(key);
    lines.push(...docLines(p, inner), `${inner}// ${JSON.stringify(key)}: not set`);
  }
  lines.push(`${indent}}`);
  return lines.join('\n');
}

/** The whole file: a header, then the configuration with a comment on every field. */
export function renderConfigFile(config: CountersignConfig, header: readonly string[]): string {
  const head = header.flatMap((l) => (l === '' ? ['//'] : commentLines(l, '')));
  return `${head.join('\n')}\n${emit(config, '', '')}\n`;
}
