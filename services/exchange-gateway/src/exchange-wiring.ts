// Which Exchange the gateway runs on, from configuration: the PaperExchange (default), or
// HttpExchange with credentials opened once, here, at start. The sealed blob comes from a file
// or an SSM parameter; its data key from KMS (COUNTERSIGN_EXCHANGE_KMS_KEY_ID) or the local
// key-encryption key file. The plaintext secret exists only inside the ExchangeCredentials.
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { embeddedPaths, type Clock, type CountersignConfig } from '@countersign/contracts';
import {
  describeLocation,
  parseCredentialsLocation,
  readSealedCredentials,
} from './credentials/credentials-location.ts';
import {
  createKmsDataKeys,
  createLocalKekDataKeys,
  type DataKeyProvider,
} from './credentials/data-keys.ts';
import type { ExchangeCredentials } from './credentials/exchange-credentials.ts';
import { credentialsContext, openCredentials } from './credentials/sealed-credentials.ts';
import { GatewayError } from './errors.ts';
import { createHttpExchange } from './http-exchange.ts';
import { createPaperExchange } from './paper-exchange.ts';
import type { Exchange, Logger } from './ports.ts';

export interface ExchangeClients {
  readonly kms: () => KMSClient;
  readonly ssm: () => SSMClient;
}

/** KMS when a key is configured, else the local key-encryption key file (embedded only). */
export function dataKeysFromConfig(
  config: CountersignConfig,
  kms: () => KMSClient,
): DataKeyProvider {
  const ex = config.exchange;
  if (ex.kmsKeyId) return createKmsDataKeys({ client: kms(), keyId: ex.kmsKeyId });
  if (config.mode === 'aws') {
    throw new GatewayError(
      'CONFIG_INVALID',
      'COUNTERSIGN_EXCHANGE_KMS_KEY_ID is required in aws mode (no local key file there)',
    );
  }
  return createLocalKekDataKeys({ path: ex.kekFile ?? embeddedPaths(config.dataDir).exchangeKek });
}

/** Where the sealed credentials are: COUNTERSIGN_EXCHANGE_CREDENTIALS or the data dir's file. */
export function credentialsLocationFromConfig(config: CountersignConfig): string {
  return config.exchange.credentials ?? embeddedPaths(config.dataDir).exchangeCredentials;
}

/** Reads, checks and decrypts this gateway's exchange credentials (once, at start). */
export async function loadExchangeCredentials(
  config: CountersignConfig,
  clients: ExchangeClients,
  logger: Logger,
): Promise<ExchangeCredentials> {
  const location = parseCredentialsLocation(credentialsLocationFromConfig(config));
  const sealed = await readSealedCredentials(location, clients.ssm);
  const credentials = await openCredentials({
    sealed,
    dataKeys: dataKeysFromConfig(config, clients.kms),
    context: credentialsContext(config.gateway.id, config.exchange.name),
  });
  logger.info(
    { from: describeLocation(location), keyId: sealed.keyId, exchange: config.exchange.name },
    'exchange credentials opened',
  );
  return credentials;
}

export async function createExchangeFromConfig(input: {
  readonly config: CountersignConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly clients: ExchangeClients;
}): Promise<Exchange> {
  const { config, clock, logger } = input;
  const ex = config.exchange;
  if (ex.kind === 'paper') {
    // Shared SQLite file in embedded mode. In AWS mode it lives in the container's memory, i.e.
    // a demo only: a real exchange dedups by client order id on the venue.
    return createPaperExchange({
      clock, // stamps each order's placement time (audit reconcile lists orders by it)
      ...(config.mode === 'aws' ? {} : { path: embeddedPaths(config.dataDir).exchangeDb }),
    });
  }
  if (!ex.url) {
    throw new GatewayError('CONFIG_INVALID', 'COUNTERSIGN_EXCHANGE_URL is required for http');
  }
  const credentials = await loadExchangeCredentials(config, input.clients, logger);
  return createHttpExchange({
    url: ex.url,
    credentials,
    clock,
    logger,
    requestTimeoutMs: ex.requestTimeoutMs,
    deadlineMs: ex.deadlineMs,
    recvWindowMs: ex.recvWindowMs,
    connections: ex.connections,
  });
}
