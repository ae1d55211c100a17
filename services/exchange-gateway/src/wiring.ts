// Builds a gateway from configuration: the only difference between the embedded and the AWS
// runtime is which adapters get wired here. Callers (main.ts, lambda.ts, the CLI, tests) pass
// the config and may override any adapter. AWS clients honour AWS_ENDPOINT_URL by themselves.
//
// `exclusive` (the long-running embedded gateway): the data directory's `gateway` role lock is
// taken first, so at most one gateway process runs on it. Holding it proves every earlier one is
// dead, so what they left in flight is taken back at once: their queue deliveries become visible
// and their nonce leases end (those requests are reconciled by their next delivery), instead of
// waiting out the visibility timeout and the lease.
import { existsSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { KMSClient } from '@aws-sdk/client-kms';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import pino from 'pino';
import {
  EmbeddedKeyNames,
  embeddedPaths,
  errorCodeOf,
  MAX_LIFETIME_SEC,
  systemClock,
  TokenTypes,
} from '@countersign/contracts';
import type { Clock, CountersignConfig } from '@countersign/contracts';
import { createDynamoNonceStore, createSqliteNonceStore } from '@countersign/replay-guard';
import type { NonceStore, SqliteNonceStore } from '@countersign/replay-guard';
import { acquireRoleLock, type RoleLock } from '@countersign/sqlite';
import {
  createKmsClient,
  createKmsAliasSigner,
  ensureLocalSigner,
  keyFilePaths,
} from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import {
  createEventBridgeBus,
  createSqliteEventBus,
  type SqliteEventBus,
  createSqliteQueue,
  createSqsQueue,
} from '@countersign/transport';
import type { EventBus, Queue, SqliteQueue } from '@countersign/transport';
import {
  combineKeys,
  createKidOwners,
  createVerifier,
  keySetStaticSets,
  partyKeySet,
  partyKeySetWhere,
  partyKeys,
  policyKeys,
} from '@countersign/verifier';
import type { KeyResolver } from '@countersign/verifier';
import { createChainWriter } from './chain.ts';
import { S3Client } from '@aws-sdk/client-s3';
import { createSqliteCheckpointLog } from './checkpoint-log.ts';
import { createCheckpointer } from './checkpoints.ts';
import { guardChainHeads } from './head-check.ts';
import { createS3CheckpointStore } from './s3-checkpoint-store.ts';
import { GatewayError } from './errors.ts';
import { placeDeadlineOf } from './exchange-calls.ts';
import { createExchangeFromConfig } from './exchange-wiring.ts';
import { createProcessor, newOwnerId, type Processor, type RequestVerifier } from './pipeline.ts';
import { createAuthorizer } from './policy.ts';
import type { CheckpointStore, Exchange, Logger } from './ports.ts';
import { observeNonceStore, observeProcessor } from './observe.ts';
import { instrumentSigner, noopMetrics, traced, type Metrics } from '@countersign/observability';
import type { RetryOptions } from './retry.ts';

export interface GatewayClients {
  readonly kms?: KMSClient;
  readonly sqs?: SQSClient;
  readonly eventBridge?: EventBridgeClient;
  readonly dynamodb?: DynamoDBClient;
  /** Reads sealed exchange credentials from an SSM parameter (`ssm:<name>`). */
  readonly ssm?: SSMClient;
  readonly s3?: S3Client;
}

/** Everything is optional: what is not given is built from the config. */
export interface GatewayOverrides {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly signer?: Signer;
  readonly queue?: Queue;
  readonly bus?: EventBus;
  readonly nonceStore?: NonceStore;
  readonly exchange?: Exchange;
  /** null: no checkpoints. */
  readonly checkpointStore?: CheckpointStore | null;
  readonly verifier?: RequestVerifier;
  /** Extra trusted keys (each bound to its issuer by the resolver). */
  readonly keys?: KeyResolver;
  readonly clients?: GatewayClients;
  readonly owner?: string;
  readonly leaseMs?: number;
  readonly exchangeTimeoutMs?: number;
  readonly reconcileDelaySec?: number;
  readonly receiptRetentionSec?: number;
  readonly signRetry?: RetryOptions;
  /**
   * Embedded mode: take the data directory's `gateway` role lock (failing at once with LOCKED
   * while another process holds it) and recover what a dead predecessor left in flight. The
   * composition roots that run a gateway process set it; default false.
   */
  readonly exclusive?: boolean;
  /** Receipts, conflicts, queue age, signatures... Default: not recorded. */
  readonly metrics?: Metrics;
  /** Spans around the ports (verify, claim, place, sign, complete, publish). Default false. */
  readonly tracing?: boolean;
}

export interface Gateway {
  readonly config: CountersignConfig;
  readonly processor: Processor;
  readonly queue: Queue;
  readonly bus: EventBus;
  readonly nonceStore: NonceStore;
  readonly exchange: Exchange;
  readonly signer: Signer;
  readonly logger: Logger;
  readonly owner: string;
  /** Final checkpoints, then closes what this wiring opened. */
  close(): Promise<void>;
}

function required<T>(value: T | undefined, env: string): T {
  if (value === undefined) {
    throw new GatewayError('CONFIG_INVALID', `${env} is required in aws mode`, {
      details: { env },
    });
  }
  return value;
}

export async function createGatewayFromConfig(
  config: CountersignConfig,
  overrides: GatewayOverrides = {},
): Promise<Gateway> {
  const lock: RoleLock | undefined =
    overrides.exclusive === true && config.mode !== 'aws'
      ? acquireRoleLock(config.dataDir, 'gateway', { clock: overrides.clock ?? systemClock })
      : undefined;
  try {
    return await wire(config, overrides, lock);
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** Holding the role lock proves the previous owners dead: take back what they left in flight. */
async function recoverPredecessors(
  owner: string,
  nonceStore: SqliteNonceStore | undefined,
  queue: SqliteQueue | undefined,
  logger: Logger,
): Promise<void> {
  // Leases first: a message that comes back is then reconciled on its first delivery.
  const leases = (await nonceStore?.expireLeasesExcept(owner)) ?? 0;
  const deliveries = (await queue?.recoverAbandoned()) ?? 0;
  if (leases + deliveries > 0) {
    logger.warn({ leases, deliveries }, 'took back what a stopped gateway left in flight');
  }
}

/**
 * The requester's key history that does not exist yet (a fresh data directory): looked for on
 * an unknown kid, at most once a second, then resolved as `open` makes it.
 */
function keysWhenFileAppears(
  file: string,
  open: () => KeyResolver | undefined,
  clock: Clock,
  logger: Logger,
): KeyResolver {
  let keys: KeyResolver | undefined;
  let lookedAt = Number.NEGATIVE_INFINITY;
  return {
    resolve(kid, hint) {
      if (!keys) {
        const now = clock.now();
        if (now - lookedAt < 1000) return Promise.resolve(undefined);
        lookedAt = now;
        if (!existsSync(file)) return Promise.resolve(undefined);
        keys = open();
        if (!keys) return Promise.resolve(undefined);
        logger.info({ file }, 'requester key file found: trusting it');
      }
      return keys.resolve(kid, hint);
    },
  };
}

/**
 * The request verifier: each requester policy's keys, plus this deployment's requester's key set
 * (`COUNTERSIGN_REQUESTER_PUBLIC_KEYS`, else its KMS key or alias, else its embedded key
 * history), all resolved live: aliases re-resolved, files and URLs re-read (issue 18).
 */
function requestVerifier(
  config: CountersignConfig,
  extraKeys: KeyResolver | undefined,
  kms: () => KMSClient,
  clock: Clock,
  logger: Logger,
): RequestVerifier {
  const gw = config.gateway;
  const requesterSet = partyKeySet(config, 'requester');
  // One kid, one key, one requester: across the policies, this requester and what loads later.
  // A set that loads later (a JWKS file or URL) never takes a kid another requester holds.
  const owners = createKidOwners(({ message, ...conflict }) => logger.error(conflict, message));
  const resolvers = policyKeys(gw.policies, {
    clock,
    owners,
    kms,
    alsoTrusted: requesterSet
      ? keySetStaticSets(requesterSet, config.requester.id, partyKeySetWhere('requester'))
      : [],
  });
  if (extraKeys) resolvers.push(extraKeys);
  const issuers = new Set(gw.policies.map((p) => p.id));
  const own = partyKeys(config, 'requester', { clock, owners, kms });
  if (own) {
    resolvers.push(own);
    issuers.add(config.requester.id);
  } else if (config.mode !== 'aws') {
    const file = keyFilePaths(
      embeddedPaths(config.dataDir).keysDir,
      EmbeddedKeyNames.REQUESTER,
    ).jwksPath;
    // Started before the requester wrote its key (one `npm start`, a fresh data dir).
    logger.warn(
      { file },
      "no requester key trusted yet: the requester's tokens are rejected UNKNOWN_KID until its key file appears (looked for at most once a second)",
    );
    const open = () => partyKeys(config, 'requester', { clock, owners, kms });
    resolvers.push(keysWhenFileAppears(file, open, clock, logger));
    issuers.add(config.requester.id);
  }
  return createVerifier({
    keys: combineKeys(...resolvers),
    issuers: [...issuers],
    audience: gw.id,
    typ: TokenTypes.REQUEST,
    clockSkewSec: gw.clockSkewSec,
    maxLifetimeSec: MAX_LIFETIME_SEC,
    maxTokenBytes: gw.maxTokenBytes,
    clock,
  });
}

async function wire(
  config: CountersignConfig,
  overrides: GatewayOverrides,
  lock: RoleLock | undefined,
): Promise<Gateway> {
  const clock = overrides.clock ?? systemClock;
  const logger: Logger =
    overrides.logger ?? pino({ level: config.logLevel, base: { service: 'exchange-gateway' } });
  const gw = config.gateway;
  const aws = config.mode === 'aws';
  const paths = embeddedPaths(config.dataDir);
  const opened: { close?(): Promise<void> }[] = [];
  const clients = {
    // Adaptive retry on ThrottlingException (DESIGN §4).
    kms: () => overrides.clients?.kms ?? createKmsClient(),
    sqs: () => overrides.clients?.sqs ?? new SQSClient({}),
    eventBridge: () => overrides.clients?.eventBridge ?? new EventBridgeClient({}),
    dynamodb: () => overrides.clients?.dynamodb ?? new DynamoDBClient({}),
    ssm: () => overrides.clients?.ssm ?? new SSMClient({}),
  };
  const kms = aws ? clients.kms() : undefined;
  const owner = overrides.owner ?? newOwnerId(gw.id);
  const tracing = overrides.tracing ?? false;
  const observed = overrides.metrics !== undefined || tracing;
  const metrics = overrides.metrics ?? noopMetrics;
  const builtSigner =
    overrides.signer ??
    (kms
      ? await createKmsAliasSigner({
          client: kms,
          keyId: required(gw.kmsKeyId, 'COUNTERSIGN_GATEWAY_KMS_KEY_ID'),
          alg: gw.alg,
          // An alias is followed: after a rotation moves it, receipts are signed by its target.
          onMove: (from, to) =>
            logger.warn(
              { from: from.resolvedKeyId, to: to.resolvedKeyId, kid: to.kid },
              'the gateway key alias moved: signing receipts with its new target',
            ),
          onRefreshError: (err) =>
            logger.error(
              { err: errorCodeOf(err) ?? String(err) },
              'could not re-read the gateway key alias; signing with the current key',
            ),
        })
      : await ensureLocalSigner(paths.keysDir, EmbeddedKeyNames.GATEWAY, gw.alg));
  const signer = observed
    ? instrumentSigner(builtSigner, { metrics, role: 'gateway' })
    : builtSigner;

  // The embedded adapters this wiring opens itself (what a recovery may touch).
  let ownQueue: SqliteQueue | undefined;
  let ownNonceStore: SqliteNonceStore | undefined;
  const queue =
    overrides.queue ??
    (aws
      ? createSqsQueue({
          client: clients.sqs(),
          queueUrl: required(config.queue.url, 'COUNTERSIGN_QUEUE_URL'),
          maxReceives: config.queue.maxReceives,
        })
      : (ownQueue = createSqliteQueue({
          path: paths.queueDb,
          visibilityTimeoutSec: config.queue.visibilityTimeoutSec,
          maxReceives: config.queue.maxReceives,
          clock,
          receiver: owner,
        })));
  if (!overrides.queue) opened.push(queue);

  let ownArchive: SqliteEventBus | undefined;
  const bus =
    overrides.bus ??
    (aws
      ? createEventBridgeBus({ client: clients.eventBridge(), busName: config.bus.name })
      : (ownArchive = createSqliteEventBus({ path: paths.busDb, clock })));
  if (!overrides.bus) opened.push(bus);

  const nonceStore =
    overrides.nonceStore ??
    (aws
      ? createDynamoNonceStore({
          client: clients.dynamodb(),
          tableName: required(config.nonce.table, 'COUNTERSIGN_NONCE_TABLE'),
        })
      : (ownNonceStore = createSqliteNonceStore({ path: paths.nonceDb, clock })));
  if (!overrides.nonceStore) opened.push(nonceStore);

  // PaperExchange (default) or HttpExchange, whose credentials are decrypted here, once.
  const exchange =
    overrides.exchange ??
    (await createExchangeFromConfig({
      config,
      clock,
      logger,
      clients: { kms: clients.kms, ssm: clients.ssm },
    }));
  if (!overrides.exchange) opened.push(exchange);

  const verifier =
    overrides.verifier ?? requestVerifier(config, overrides.keys, clients.kms, clock, logger);

  // What the pipeline sees: the same ports, measured and traced when asked for.
  const pipelineNonceStore = observed
    ? observeNonceStore(nonceStore, metrics, tracing)
    : nonceStore;
  const chain = createChainWriter({
    gatewayId: gw.id,
    nonceStore: pipelineNonceStore,
    signer,
    clock,
    owner,
    logger,
    ...(overrides.signRetry ? { signRetry: overrides.signRetry } : {}),
    // Receipt batching (issue #20): on by default in aws mode, where KMS Sign calls are the limit.
    ...((config.gateway.receiptBatching ?? aws)
      ? { receiptBatching: { maxBatchSize: config.gateway.receiptBatchMax } }
      : {}),
  });
  const bucket = config.checkpoints.bucket;
  const checkpointStore =
    overrides.checkpointStore === undefined
      ? aws
        ? bucket
          ? createS3CheckpointStore({ client: overrides.clients?.s3 ?? new S3Client({}), bucket })
          : null
        : createSqliteCheckpointLog({
            path: paths.checkpointLog,
            ...(config.checkpoints.mirror ? { mirror: config.checkpoints.mirror } : {}),
            logger,
          })
      : overrides.checkpointStore;
  if (checkpointStore && overrides.checkpointStore === undefined) opened.push(checkpointStore);
  if (!checkpointStore)
    logger.warn({}, 'no checkpoint store: a cut tail of the archive is invisible');
  const checkpointer = checkpointStore
    ? createCheckpointer({
        gatewayId: gw.id,
        signer,
        store: checkpointStore,
        every: gw.checkpointEvery,
        intervalMs: gw.checkpointIntervalSec * 1000,
        clock,
        logger,
      })
    : undefined;
  // Issue 13 F4: refuse to start when a chain head is behind its newest signed checkpoint.
  if (checkpointStore) {
    try {
      await guardChainHeads({
        config,
        signer,
        nonceStore,
        checkpoints: checkpointStore,
        ...(checkpointer ? { checkpointer } : {}),
        exchange,
        clock,
        logger,
        kms: clients.kms,
        // The embedded archive is local: a head behind it is refused too.
        ...(ownArchive ? { archive: ownArchive } : {}),
      });
    } catch (err) {
      for (const part of opened.reverse()) await part.close?.();
      throw err;
    }
  }

  const processor = createProcessor({
    gatewayId: gw.id,
    partitions: gw.partitions,
    verifier: traced(verifier, 'gateway', ['verify'], tracing),
    nonceStore: pipelineNonceStore,
    exchange: traced(exchange, 'gateway.exchange', ['place', 'getOrder'], tracing),
    bus: traced(bus, 'gateway.bus', ['publish'], tracing),
    chain,
    ...(observed ? { metrics } : {}),
    authorizer: createAuthorizer({ policies: gw.policies, clock }),
    clock,
    owner,
    maxTokenBytes: gw.maxTokenBytes,
    maxReceives: config.queue.maxReceives,
    clockSkewSec: gw.clockSkewSec,
    // Half the visibility to reach place(), plus the place call's own deadline: the lease must
    // outlast the call (a claim whose lease would not is left, never placed).
    leaseMs:
      overrides.leaseMs ??
      Math.max(1000, Math.floor((config.queue.visibilityTimeoutSec * 1000) / 2)) +
        placeDeadlineOf(exchange, overrides.exchangeTimeoutMs),
    ...(overrides.exchangeTimeoutMs === undefined
      ? {}
      : { exchangeTimeoutMs: overrides.exchangeTimeoutMs }),
    ...(overrides.reconcileDelaySec === undefined
      ? {}
      : { reconcileDelaySec: overrides.reconcileDelaySec }),
    ...(overrides.receiptRetentionSec === undefined
      ? {}
      : { receiptRetentionSec: overrides.receiptRetentionSec }),
    ...(checkpointer ? { checkpointer } : {}),
    logger,
  });

  if (lock) await recoverPredecessors(owner, ownNonceStore, ownQueue, logger);

  let closed = false;
  return {
    config,
    processor: observed ? observeProcessor(processor, { metrics, clock }) : processor,
    queue,
    bus,
    nonceStore,
    exchange,
    signer,
    logger,
    owner,
    async close() {
      if (closed) return;
      closed = true;
      await processor.close();
      await checkpointer?.close();
      for (const part of opened.reverse()) await part.close?.();
      lock?.release();
    },
  };
}
