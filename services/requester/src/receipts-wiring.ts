// Builds, from validated configuration, what the requester needs to know what happened to its
// orders: the TransactionStore (embedded: a table in requester.sqlite; aws: items in the
// idempotency table), the gateway's receipt keys (embedded: `<dataDir>/keys/gateway.jwks.json`;
// aws: GetPublicKey of COUNTERSIGN_GATEWAY_KMS_KEY_ID), the intake that verifies receipts before
// storing them, the status lookup, and the consumer of the receipts (embedded: the SQLite bus with
// the cursor `requester:<id>`; aws: COUNTERSIGN_REQUESTER_RECEIPTS_QUEUE_URL when set, else the
// receipts Lambda fills the table). Called only by composition roots and the other wiring.
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from 'pino';
import { EmbeddedKeyNames, embeddedPaths, systemClock } from '@countersign/contracts';
import type { Clock, CountersignConfig, ReceiptClaims } from '@countersign/contracts';
import { createKmsClient, type KmsSendClient } from '@countersign/signing';
import {
  createSqliteEventBus,
  createSqsQueue,
  type EventArchive,
  type Queue,
} from '@countersign/transport';
import {
  jwksFile,
  kmsPublicKeys,
  partyKeys,
  type KeyResolver,
  type Verifier,
} from '@countersign/verifier';
import { createDynamoTransactionStore } from './dynamo-transaction-store.ts';
import { RequesterError } from './errors.ts';
import {
  catchUpEmbeddedReceipts,
  receiptCursorOf,
  runEmbeddedReceiptConsumer,
  runSqsReceiptConsumer,
} from './receipt-consumers.ts';
import {
  createReceiptIntake,
  createReceiptVerifier,
  type ReceiptIntake,
} from './receipt-intake.ts';
import { createReceiptSignals, type ReceiptSignals } from './receipt-signals.ts';
import { createSqliteTransactionStore } from './sqlite-transaction-store.ts';
import { createTransactionStatus, type TransactionStatus } from './transaction-status.ts';
import type { TransactionStore } from './transaction-store.ts';

export interface ReceiptsOverrides {
  readonly clock?: Clock;
  readonly kmsClient?: KmsSendClient;
  readonly sqsClient?: SQSClient;
  readonly dynamoClient?: DynamoDBClient;
  /** The gateway's receipt keys (tests). */
  readonly receiptKeys?: KeyResolver;
  /** The embedded bus to read receipts from (tests). */
  readonly receiptArchive?: EventArchive;
  /** Where the status lookup re-reads the store while waiting (default 1000 ms). */
  readonly statusPollMs?: number;
}

function required(value: string | undefined, name: string): string {
  if (value) return value;
  throw new RequesterError('CONFIG_INVALID', `${name} is required in aws mode`);
}

/** Where each order's status lives (see transaction-store.ts). */
export function createTransactionStoreFromConfig(
  config: CountersignConfig,
  overrides: Pick<ReceiptsOverrides, 'clock' | 'dynamoClient'> = {},
): TransactionStore {
  const clock = overrides.clock ?? systemClock;
  if (config.mode === 'embedded') {
    return createSqliteTransactionStore({ path: embeddedPaths(config.dataDir).requesterDb, clock });
  }
  return createDynamoTransactionStore({
    tableName: required(config.requester.idempotencyTable, 'COUNTERSIGN_IDEMPOTENCY_TABLE'),
    clock,
    ...(overrides.dynamoClient ? { client: overrides.dynamoClient } : {}),
  });
}

/** The gateway's public keys, bound to its id (a key verifies only receipts it issued). */
export function receiptKeysFromConfig(
  config: CountersignConfig,
  overrides: Pick<ReceiptsOverrides, 'clock' | 'kmsClient' | 'receiptKeys'> = {},
): KeyResolver {
  if (overrides.receiptKeys) return overrides.receiptKeys;
  const clock = overrides.clock ?? systemClock;
  const issuer = config.gateway.id;
  if (config.mode === 'embedded') {
    const file = join(
      embeddedPaths(config.dataDir).keysDir,
      `${EmbeddedKeyNames.GATEWAY}.jwks.json`,
    );
    return jwksFile(file, { issuer, clock });
  }
  // Every gateway key generation it trusts (COUNTERSIGN_GATEWAY_PUBLIC_KEYS, else its KMS key),
  // so receipts signed before a gateway key rotation keep verifying.
  required(config.gateway.kmsKeyId, 'COUNTERSIGN_GATEWAY_KMS_KEY_ID');
  const client = overrides.kmsClient ?? createKmsClient();
  const keys = partyKeys(config, 'gateway', { clock, kms: () => client });
  if (!keys) {
    return kmsPublicKeys({ client, keyIds: [config.gateway.kmsKeyId!], issuer, clock });
  }
  return keys;
}

export interface Receipts {
  readonly verifier: Verifier<ReceiptClaims>;
  readonly signals: ReceiptSignals;
  readonly intake: ReceiptIntake;
  readonly status: TransactionStatus;
  /**
   * Runs this process's receipt consumer until the signal aborts (embedded: the bus; aws: the
   * configured receipts queue); undefined when there is none to run (aws without a queue URL).
   */
  consume(signal: AbortSignal): Promise<void> | undefined;
  /** Embedded: reads the bus up to its end once (when no consumer runs); events read. */
  catchUp(): Promise<number>;
  /** Closes what this function opened (the bus file, SDK clients); not the store. */
  close(): Promise<void>;
}

/** The intake and the status lookup over one store and verifier, sharing one set of signals. */
export function createReceiptSide(options: {
  readonly issuer: string;
  readonly verifier: Verifier<ReceiptClaims>;
  readonly store: TransactionStore;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly pollMs?: number;
}): Pick<Receipts, 'signals' | 'intake' | 'status'> {
  const { issuer, verifier, store, logger } = options;
  const signals = createReceiptSignals();
  const intake = createReceiptIntake({ issuer, verifier, store, signals, logger });
  const status = createTransactionStatus({ ...options, signals });
  return { signals, intake, status };
}

export function createReceiptsFromConfig(
  config: CountersignConfig,
  store: TransactionStore,
  logger: Logger,
  overrides: ReceiptsOverrides = {},
): Receipts {
  const clock = overrides.clock ?? systemClock;
  const verifier = createReceiptVerifier({
    keys: receiptKeysFromConfig(config, overrides),
    gatewayId: config.gateway.id,
    clockSkewSec: config.gateway.clockSkewSec,
    clock,
  });
  const issuer = config.requester.id;
  const { signals, intake, status } = createReceiptSide({
    issuer,
    verifier,
    store,
    logger,
    clock,
    ...(overrides.statusPollMs === undefined ? {} : { pollMs: overrides.statusPollMs }),
  });

  // Opened on first use: a process that only looks statuses up never opens the bus.
  let archive: (EventArchive & { close?(): Promise<void> }) | undefined = overrides.receiptArchive;
  const openArchive = () =>
    (archive ??= createSqliteEventBus({ path: embeddedPaths(config.dataDir).busDb, clock }));
  let queue: Queue | undefined;
  const consumer = receiptCursorOf(issuer);

  return {
    verifier,
    signals,
    intake,
    status,
    consume(signal) {
      if (config.mode === 'embedded') {
        return runEmbeddedReceiptConsumer({
          archive: openArchive(),
          consumer,
          intake,
          logger,
          signal,
        });
      }
      const url = config.requester.receiptsQueueUrl;
      if (!url) return undefined;
      queue = createSqsQueue({
        client: overrides.sqsClient ?? new SQSClient({}),
        queueUrl: url,
        maxReceives: config.queue.maxReceives,
      });
      return runSqsReceiptConsumer({ queue, intake, logger, signal });
    },
    catchUp: () =>
      config.mode === 'embedded'
        ? catchUpEmbeddedReceipts({ archive: openArchive(), consumer, intake })
        : Promise.resolve(0),
    close: async () => {
      if (!overrides.receiptArchive) await archive?.close?.();
      await queue?.close?.();
    },
  };
}
