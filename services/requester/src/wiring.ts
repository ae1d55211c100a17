// Builds the requester from validated configuration: the embedded runtime (local key in
// `<dataDir>/keys`, SQLite queue, idempotency records and order status) or AWS (KMS signer, SQS
// queue, DynamoDB records). Called only by composition roots (main.ts, lambda.ts, the CLI);
// every adapter and SDK client can be injected instead. The receipt side (what happened to each
// order) is built in receipts-wiring.ts.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { pino, type Logger } from 'pino';
import { EmbeddedKeyNames, embeddedPaths, systemClock } from '@countersign/contracts';
import type { Clock, CountersignConfig } from '@countersign/contracts';
import { createKmsAliasSigner, createKmsClient, ensureLocalSigner } from '@countersign/signing';
import type { Jwks, KmsSendClient, Signer } from '@countersign/signing';
import { partyKeys, publishedJwks, type KeyResolver } from '@countersign/verifier';
import { createPromMetrics, instrumentSigner, teeMetrics } from '@countersign/observability';
import type { Metrics, PromMetrics } from '@countersign/observability';
import { createSqliteQueue, createSqsQueue } from '@countersign/transport';
import type { Queue } from '@countersign/transport';
import { createDynamoIdempotencyStore } from './dynamo-idempotency-store.ts';
import { RequesterError } from './errors.ts';
import { createRequesterApp } from './http-app.ts';
import { errorFields } from './error-log.ts';
import { operatorRoutes, type OperatorStatus } from './operator-routes.ts';
import type { IdempotencyStore } from './idempotency-store.ts';
import { createRequester, DEFAULT_SIGN_CONCURRENCY, type Requester } from './requester.ts';
import { createSqliteIdempotencyStore } from './sqlite-idempotency-store.ts';
import {
  createReceiptsFromConfig,
  createTransactionStoreFromConfig,
  type Receipts,
  type ReceiptsOverrides,
} from './receipts-wiring.ts';
import type { TransactionStore } from './transaction-store.ts';

export interface RequesterOverrides extends ReceiptsOverrides {
  readonly signer?: Signer;
  readonly queue?: Queue;
  readonly clock?: Clock;
  readonly kmsClient?: KmsSendClient;
  readonly sqsClient?: SQSClient;
  readonly dynamoClient?: DynamoDBClient;
  /** Where each signed order is remembered (its status); default from the configuration. */
  readonly transactions?: TransactionStore;
  /** Where requests and signatures are counted; absent: not recorded (the HTTP service makes one). */
  readonly metrics?: Metrics;
  /** Where a move of the KMS key alias is reported (aws mode). */
  readonly logger?: Logger;
}

export interface WiredRequester {
  readonly requester: Requester;
  readonly signer: Signer;
  readonly queue: Queue;
  /** Every order `requester` signs is remembered here before it can be sent. */
  readonly transactions: TransactionStore;
  /** Closes what this function opened (not injected adapters). */
  close(): Promise<void>;
}

async function buildSigner(config: CountersignConfig, o: RequesterOverrides): Promise<Signer> {
  if (o.signer) return o.signer;
  const { alg, kmsKeyId, signConcurrency } = config.requester;
  if (config.mode === 'embedded') {
    // Many signatures are in flight at once (submitMany, concurrent HTTP clients): sign on the
    // thread pool so they use every core while the event loop validates and enqueues.
    return ensureLocalSigner(
      embeddedPaths(config.dataDir).keysDir,
      EmbeddedKeyNames.REQUESTER,
      alg,
      { threadPool: true },
    );
  }
  if (!kmsKeyId) {
    throw new RequesterError(
      'CONFIG_INVALID',
      'COUNTERSIGN_REQUESTER_KMS_KEY_ID is required in aws mode',
    );
  }
  // An alias is followed: after a rotation moves it, orders are signed by its new target.
  return createKmsAliasSigner({
    client: o.kmsClient ?? createKmsClient(),
    keyId: kmsKeyId,
    alg,
    maxConcurrency: signConcurrency ?? DEFAULT_SIGN_CONCURRENCY,
    onMove: (from, to) =>
      o.logger?.warn(
        { alias: kmsKeyId, from: from.resolvedKeyId, to: to.resolvedKeyId, kid: to.kid },
        'the requester key alias moved: signing with its new target',
      ),
    onRefreshError: (err) =>
      o.logger?.error(
        { alias: kmsKeyId, ...errorFields(err) },
        'could not re-read the requester key alias; signing with the current key',
      ),
  });
}

function buildQueue(config: CountersignConfig, o: RequesterOverrides): Queue {
  if (o.queue) return o.queue;
  if (config.mode === 'embedded') {
    return createSqliteQueue({
      path: embeddedPaths(config.dataDir).queueDb,
      visibilityTimeoutSec: config.queue.visibilityTimeoutSec,
      maxReceives: config.queue.maxReceives,
      clock: o.clock ?? systemClock,
    });
  }
  if (!config.queue.url) {
    throw new RequesterError('CONFIG_INVALID', 'COUNTERSIGN_QUEUE_URL is required in aws mode');
  }
  return createSqsQueue({
    client: o.sqsClient ?? new SQSClient({}),
    queueUrl: config.queue.url,
    maxReceives: config.queue.maxReceives,
  });
}

export async function createRequesterFromConfig(
  config: CountersignConfig,
  overrides: RequesterOverrides = {},
): Promise<WiredRequester> {
  const { metrics } = overrides;
  const built = await buildSigner(config, overrides);
  // Measured only when someone reads the numbers: tracing spans come with the measurement.
  const signer = metrics ? instrumentSigner(built, { metrics, role: 'requester' }) : built;
  const queue = buildQueue(config, overrides);
  const transactions =
    overrides.transactions ?? createTransactionStoreFromConfig(config, overrides);
  const requester = createRequester({
    ...(metrics ? { metrics } : {}),
    signer,
    queue,
    issuer: config.requester.id,
    audience: config.gateway.id,
    lifetimeSec: config.requester.lifetimeSec,
    clock: overrides.clock ?? systemClock,
    // KMS has a request quota; the local signer only has cores, and enough signatures queued on
    // the thread pool keep them busy while the event loop writes the previous batch.
    signConcurrency:
      config.requester.signConcurrency ??
      (config.mode === 'embedded' ? 64 : DEFAULT_SIGN_CONCURRENCY),
    ...((config.requester.batchSigning ?? config.mode === 'aws') ? { batchSigning: {} } : {}),
    remember: (orders) => transactions.remember(orders),
  });
  return {
    requester,
    signer,
    queue,
    transactions,
    close: async () => {
      if (!overrides.queue) await queue.close?.();
      if (!overrides.transactions) await transactions.close?.();
    },
  };
}

/** The embedded mode's file of Idempotency-Key records. */
export function idempotencyDbPath(config: CountersignConfig): string {
  return embeddedPaths(config.dataDir).requesterDb;
}

/**
 * Where Idempotency-Key records live (HTTP API and `request submit`): `<dataDir>/requester.sqlite`
 * in the embedded mode; in aws mode the DynamoDB table COUNTERSIGN_IDEMPOTENCY_TABLE, so a retry
 * that reaches another process or Lambda container, or follows a crash, resumes the same jti.
 */
export function createIdempotencyStoreFromConfig(
  config: CountersignConfig,
  overrides: Pick<RequesterOverrides, 'clock' | 'dynamoClient'> = {},
): IdempotencyStore {
  const clock = overrides.clock ?? systemClock;
  if (config.mode === 'embedded') {
    return createSqliteIdempotencyStore({ path: idempotencyDbPath(config), clock });
  }
  const tableName = config.requester.idempotencyTable;
  if (!tableName) {
    throw new RequesterError(
      'CONFIG_INVALID',
      'COUNTERSIGN_IDEMPOTENCY_TABLE is required in aws mode',
    );
  }
  return createDynamoIdempotencyStore({
    tableName,
    clock,
    // Without one, the adapter builds a client (AWS_ENDPOINT_URL, region from the environment).
    ...(overrides.dynamoClient ? { client: overrides.dynamoClient } : {}),
  });
}

export interface RequesterServiceOverrides extends Omit<RequesterOverrides, 'metrics'> {
  readonly logger?: Logger;
  readonly idempotency?: IdempotencyStore;
  /** The registry GET /metrics serves (one per process: `npm start` shares it with the gateway). */
  readonly metrics?: PromMetrics;
  /** Records there too (the Lambda's CloudWatch EMF writer). */
  readonly alsoRecordTo?: Metrics;
  /** Stream heads and checkpoints for the operator page (a process that runs the gateway). */
  readonly operatorStatus?: () => Promise<OperatorStatus>;
}

export interface RequesterService extends WiredRequester {
  readonly app: ReturnType<typeof createRequesterApp>;
  readonly logger: Logger;
  /** Receipt verification, status lookups and this process's receipt consumer (running). */
  readonly receipts: Receipts;
  readonly metrics: PromMetrics;
}

/** The requester's key set (current and previous keys), published for verifiers. */
function publicKeysOf(
  config: CountersignConfig,
  overrides: RequesterServiceOverrides,
): () => Promise<Jwks> {
  let keys: KeyResolver | undefined;
  return async () => {
    keys ??= partyKeys(config, 'requester', {
      kms: () => overrides.kmsClient ?? createKmsClient(),
    });
    return keys ? publishedJwks(keys) : { keys: [] };
  };
}

/** The HTTP app with its requester, idempotency store and logger, from configuration. */
export async function createRequesterServiceFromConfig(
  config: CountersignConfig,
  overrides: RequesterServiceOverrides = {},
): Promise<RequesterService> {
  const logger =
    overrides.logger ?? pino({ level: config.logLevel, base: { service: 'requester' } });
  const metrics = overrides.metrics ?? createPromMetrics();
  const recorded = overrides.alsoRecordTo ? teeMetrics(metrics, overrides.alsoRecordTo) : metrics;
  const wired = await createRequesterFromConfig(config, {
    ...overrides,
    metrics: recorded,
    logger,
  });
  const idempotency = overrides.idempotency ?? createIdempotencyStoreFromConfig(config, overrides);
  const receipts = createReceiptsFromConfig(config, wired.transactions, logger, overrides);
  const app = createRequesterApp({
    requester: wired.requester,
    apiKeys: config.requester.apiKeys,
    idempotency,
    transactions: receipts.status,
    logger,
    maxBodyBytes: config.requester.maxBodyBytes,
    publicKeys: publicKeysOf(config, overrides),
    metrics: recorded,
    extraRoutes: operatorRoutes({
      metrics,
      clock: overrides.clock ?? systemClock,
      ...(overrides.operatorStatus ? { status: overrides.operatorStatus } : {}),
    }),
  });
  if (config.requester.apiKeys.length === 0) {
    logger.warn('no API keys configured (COUNTERSIGN_API_KEYS): every request will get 401');
  }
  // This process's receipt consumer runs until close (embedded: the bus; aws: when a receipts
  // queue is configured, else the receipts Lambda stores them and lookups read the table).
  const stopConsuming = new AbortController();
  const consuming = receipts.consume(stopConsuming.signal);
  return {
    ...wired,
    app,
    logger,
    receipts,
    metrics,
    close: async () => {
      stopConsuming.abort();
      await consuming;
      await receipts.close();
      await wired.close();
      if (!overrides.idempotency) await idempotency.close?.();
    },
  };
}
