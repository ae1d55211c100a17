// Credentials for a local exchange simulator: like a venue issuing an API key, the first run
// makes a random key and secret and seals them where the gateway will look
// (COUNTERSIGN_EXCHANGE_CREDENTIALS, default `<dataDir>/exchange-credentials.sealed.json`),
// with the same data-key provider the gateway opens them with. Later runs open that file.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { embeddedPaths, type CountersignConfig } from '@countersign/contracts';
import {
  credentialsContext,
  credentialsLocationFromConfig,
  dataKeysFromConfig,
  ensureKekFile,
  loadExchangeCredentials,
  parseCredentialsLocation,
  sealCredentials,
  writeSealedCredentials,
  type ExchangeCredentials,
  type Logger,
} from '@countersign/exchange-gateway';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SSMClient } from '@aws-sdk/client-ssm';

export interface CliClients {
  readonly kms: () => KMSClient;
  readonly ssm: () => SSMClient;
}

/** Creates the local key-encryption key file when the local provider is the one in use. */
export function ensureLocalKek(config: CountersignConfig): void {
  if (config.exchange.kmsKeyId) return;
  ensureKekFile(config.exchange.kekFile ?? embeddedPaths(config.dataDir).exchangeKek);
}

export async function ensureSimCredentials(
  config: CountersignConfig,
  clients: CliClients,
  logger: Logger,
): Promise<{ readonly credentials: ExchangeCredentials; readonly issued: string | undefined }> {
  const location = parseCredentialsLocation(credentialsLocationFromConfig(config));
  let issued: string | undefined;
  if (location.kind === 'file' && !existsSync(location.path)) {
    ensureLocalKek(config);
    issued = `cs-sim-${randomBytes(12).toString('base64url')}`;
    const sealed = await sealCredentials({
      dataKeys: dataKeysFromConfig(config, clients.kms),
      context: credentialsContext(config.gateway.id, config.exchange.name),
      apiKey: Buffer.from(issued, 'latin1'),
      secret: Buffer.from(randomBytes(32).toString('base64url'), 'latin1'),
    });
    await writeSealedCredentials(location, sealed, { overwrite: false, ssm: clients.ssm });
  }
  // Opened exactly as the gateway opens them: a simulator that starts proves the file works.
  const credentials = await loadExchangeCredentials(config, clients, logger);
  return { credentials, issued };
}
