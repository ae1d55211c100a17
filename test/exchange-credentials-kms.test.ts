// Envelope-encrypted exchange credentials on moto: KMS GenerateDataKey / Decrypt with the
// encryption context, the blob in an SSM parameter, sealed by the CLI from stdin and opened by
// the gateway's wiring at start. The sealed blob opens only with the right context and key.
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { CreateKeyCommand, DecryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@countersign/contracts';
import { createKmsClient } from '@countersign/signing';
import {
  createGatewayFromConfig,
  createKmsDataKeys,
  credentialsContext,
  loadExchangeCredentials,
  openCredentials,
  parseSealedCredentials,
  sealCredentials,
  silentLogger,
  startExchangeSimulator,
  type Logger,
  type SealedCredentials,
} from '@countersign/exchange-gateway';
import {
  checkCommand,
  sealCommand,
  type ExchangeCommandIO,
} from '../services/cli/src/commands/exchange.ts';
import { clientConfig, uniqueName } from './support/aws.ts';
import { newOrder, tempDir } from './support/exchange.ts';

const SECRET = `moto-secret-${uniqueName('s')}`;
const API_KEY = `moto-key-${uniqueName('k')}`;
let kms: KMSClient;
let ssm: SSMClient;
let keyId: string;
let otherKeyId: string;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  kms = createKmsClient(clientConfig());
  ssm = new SSMClient(clientConfig());
  const create = async () =>
    (
      await kms.send(
        new CreateKeyCommand({ KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' }),
      )
    ).KeyMetadata!.Arn!;
  keyId = await create();
  otherKeyId = await create();
});

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function failure(p: Promise<unknown>): Promise<Error & { code: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code: string };
  }
  throw new Error('expected a failure');
}

const seal = (context = credentialsContext('gw-1', 'venue-a')) =>
  sealCredentials({
    dataKeys: createKmsDataKeys({ client: kms, keyId }),
    context,
    apiKey: Buffer.from(API_KEY),
    secret: Buffer.from(SECRET),
  });

describe('sealed credentials with KMS (moto)', () => {
  it('open only under the encryption context they were sealed with', async () => {
    const context = credentialsContext('gw-1', 'venue-a');
    const sealed = await seal(context);
    expect(sealed.keyId).toBe(keyId);
    expect(JSON.stringify(sealed)).not.toContain(SECRET);
    const dataKeys = createKmsDataKeys({ client: kms, keyId });
    const creds = await openCredentials({ sealed, dataKeys, context });
    expect(creds.apiKey).toBe(API_KEY);

    // Our own check refuses a context mismatch before any KMS call...
    const other = credentialsContext('gw-2', 'venue-a');
    expect((await failure(openCredentials({ sealed, dataKeys, context: other }))).code).toBe(
      'CREDENTIALS_INVALID',
    );
    // ...and KMS itself refuses the data key under another context: a file edited to name
    // another gateway does not open for that gateway.
    const edited: SealedCredentials = { ...sealed, context: other as SealedCredentials['context'] };
    const err = await failure(openCredentials({ sealed: edited, dataKeys, context: other }));
    expect(err.message).toMatch(/does not decrypt under this encryption context/);
    const bare = await failure(
      kms.send(
        new DecryptCommand({ CiphertextBlob: Buffer.from(sealed.encryptedDataKey, 'base64') }),
      ),
    );
    expect(bare.name).toBe('InvalidCiphertextException');
  });

  it('refuses a blob sealed under another key than the one configured', async () => {
    const sealed = await seal();
    const err = await failure(
      openCredentials({
        sealed,
        dataKeys: createKmsDataKeys({ client: kms, keyId: otherKeyId }),
        context: credentialsContext('gw-1', 'venue-a'),
      }),
    );
    expect(err.code).toBe('CREDENTIALS_INVALID');
    expect(err.message).not.toContain(SECRET);
  });
});

describe('CLI seal into SSM, gateway opens at start', () => {
  const parameter = `/countersign/${uniqueName('it')}/exchange-credentials`;
  const gatewayId = 'gw-ssm';
  const exchangeName = 'venue-sim';
  const out: string[] = [];
  const io = (stdin: Buffer): ExchangeCommandIO => ({
    env: { COUNTERSIGN_DATA_DIR: tempDir('seal-') },
    stdin: Readable.from([stdin]),
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => out.push(t) },
    clients: { kms: () => kms, ssm: () => ssm },
    untilStopped: () => Promise.resolve(),
    startSimulator: startExchangeSimulator,
  });
  // A getter: keyId is set in beforeAll, after this describe body ran.
  const opts = () => ({ kmsKeyId: keyId, gatewayId, exchangeName });

  it('seals from stdin (never argv), refuses to overwrite without --force', async () => {
    const stdin = Buffer.from(`${API_KEY}\n${SECRET}\n`);
    const rc = await sealCommand({ ...opts(), out: `ssm:${parameter}` }, io(stdin));
    expect(rc, out.join('')).toBe(0);
    expect(stdin.every((b) => b === 0)).toBe(true); // the input buffer was wiped
    const stored = await ssm.send(new GetParameterCommand({ Name: parameter }));
    expect(stored.Parameter?.Type).toBe('String');
    const sealed = parseSealedCredentials(stored.Parameter!.Value!);
    expect(sealed.context).toEqual(credentialsContext(gatewayId, exchangeName));
    expect(stored.Parameter!.Value).not.toContain(SECRET);
    expect(
      await sealCommand({ ...opts(), out: `ssm:${parameter}` }, io(Buffer.from(`a\nb\n`))),
    ).toBe(1);
    expect(out.join('')).toMatch(/pass --force/);
    const checked = await checkCommand(
      { ...opts(), from: `ssm:${parameter}` },
      io(Buffer.alloc(0)),
    );
    expect(checked, out.join('')).toBe(0);
    expect(out.join('')).not.toContain(SECRET);
  });

  it('createGatewayFromConfig opens them once (KMS + SSM) and its HttpExchange trades', async () => {
    const dataDir = tempDir('gw-ssm-');
    const env = {
      COUNTERSIGN_DATA_DIR: dataDir,
      COUNTERSIGN_GATEWAY_ID: gatewayId,
      COUNTERSIGN_EXCHANGE: 'http',
      COUNTERSIGN_EXCHANGE_NAME: exchangeName,
      COUNTERSIGN_EXCHANGE_CREDENTIALS: `ssm:${parameter}`,
      COUNTERSIGN_EXCHANGE_KMS_KEY_ID: keyId,
    };
    // The venue: a simulator that issued these credentials.
    const venueConfig = parseConfig({ env, part: 'exchange' });
    const issued = await loadExchangeCredentials(
      venueConfig,
      { kms: () => kms, ssm: () => ssm },
      silentLogger,
    );
    const sim = await startExchangeSimulator({
      credentials: [issued],
      dbPath: join(dataDir, 'sim.sqlite'),
    });
    closers.push(() => sim.close());

    const lines: string[] = [];
    const logger: Logger = {
      debug: (o, m) => lines.push(JSON.stringify({ ...o, m })),
      info: (o, m) => lines.push(JSON.stringify({ ...o, m })),
      warn: (o, m) => lines.push(JSON.stringify({ ...o, m })),
      error: (o, m) => lines.push(JSON.stringify({ ...o, m })),
    };
    const config = parseConfig({
      env: { ...env, COUNTERSIGN_EXCHANGE_URL: sim.url },
      part: 'gateway',
    });
    const gw = await createGatewayFromConfig(config, { clients: { kms, ssm }, logger });
    closers.push(() => gw.close());
    expect(await gw.exchange.place(newOrder())).toMatchObject({ status: 'FILLED' });
    expect(lines.some((l) => l.includes('exchange credentials opened'))).toBe(true);
    expect(lines.join('\n')).not.toContain(SECRET);

    // The same parameter does not open for another gateway.
    const wrong = parseConfig({
      env: { ...env, COUNTERSIGN_EXCHANGE_URL: sim.url, COUNTERSIGN_GATEWAY_ID: 'gw-other' },
      part: 'gateway',
    });
    const err = await failure(
      createGatewayFromConfig(wrong, { clients: { kms, ssm }, logger: silentLogger }),
    );
    expect(err.code).toBe('CREDENTIALS_INVALID');
    expect(err.message).not.toContain(SECRET);
  });
});
