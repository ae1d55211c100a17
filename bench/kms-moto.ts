// The kms suite's moto section (issue #20): the same transactions as the stub cases, signed by
// the project's KmsSigner over the AWS SDK (createKmsClient, as aws mode builds it) against a
// moto server, so every Sign is a real signed HTTP request and response. Sign calls are counted
// on the wire: an SDK middleware inside the retry loop sees each attempt that goes over HTTP.
// moto has no quota and answers locally, so these rows show the API path and the Sign calls per
// transaction, not throttling.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateAliasCommand, CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { describeSdkError } from '@countersign/contracts';
import { createKmsClient, createKmsSigner, type Signer } from '@countersign/signing';
import { motoBinary, startMoto, type MotoServer } from '../test/setup/moto-server.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Sign calls that went over HTTP (each SDK attempt), and of them those KMS throttled. */
export interface SignCalls {
  signs: number;
  throttles: number;
}

/** The two KMS signers a case signs with (requester key, gateway receipt key) and their calls. */
export interface KmsUnderTest {
  readonly requester: Signer;
  readonly gateway: Signer;
  readonly calls: SignCalls;
}

export interface MotoKms {
  /** Fresh signers over a fresh client, so each case counts its own Sign calls. */
  signers(): Promise<KmsUnderTest>;
  stop(): Promise<void>;
}

const KEY_ALIASES = ['alias/countersign-bench/requester', 'alias/countersign-bench/gateway'];

function client(moto: MotoServer): KMSClient {
  return createKmsClient({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
}

/** Counts each Sign attempt: finalizeRequest at low priority runs inside the retry middleware. */
function countSignCalls(kms: KMSClient): SignCalls {
  const calls: SignCalls = { signs: 0, throttles: 0 };
  kms.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'SignCommand') return next(args);
      calls.signs++;
      try {
        return await next(args);
      } catch (err) {
        if (describeSdkError(err).code === 'ThrottlingException') calls.throttles++;
        throw err;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'benchCountSignCalls' },
  );
  return calls;
}

/** Why moto cannot run here, after trying to install it; undefined when it is there. */
function motoUnavailable(): string | undefined {
  if (existsSync(motoBinary(ROOT))) return undefined;
  console.log('kms: .venv/bin/moto_server is missing; running scripts/moto-venv.sh');
  const setup = spawnSync('bash', [join(ROOT, 'scripts', 'moto-venv.sh')], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (setup.status === 0 && existsSync(motoBinary(ROOT))) return undefined;
  const said = setup.stderr?.trim().split('\n').at(-1);
  return `scripts/moto-venv.sh could not install moto (${said || setup.error?.message || `exit ${String(setup.status)}`})`;
}

/**
 * Starts moto on a free loopback port with the two ECC_NIST_P256 SIGN_VERIFY keys behind
 * aliases (aws mode names its keys that way), or says why the moto section cannot run.
 */
export async function startMotoKms(): Promise<MotoKms | { readonly skipped: string }> {
  const unavailable = motoUnavailable();
  if (unavailable) return { skipped: unavailable };
  let moto: MotoServer;
  try {
    moto = await startMoto(ROOT);
  } catch (err) {
    return { skipped: `moto_server did not start: ${(err as Error).message.split('\n')[0]}` };
  }
  // Ctrl-C during the bench: no emulator left behind (startMoto covers a normal exit).
  const onSignal = () => void moto.stop().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const clients: KMSClient[] = [];
  const stop = async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const c of clients) c.destroy();
    await moto.stop();
  };
  try {
    const admin = client(moto);
    clients.push(admin);
    for (const alias of KEY_ALIASES) {
      const key = await admin.send(
        new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
      );
      await admin.send(
        new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyMetadata!.KeyId! }),
      );
    }
  } catch (err) {
    await stop();
    const { code, message } = describeSdkError(err);
    return { skipped: `moto did not create the signing keys (${code}: ${message})` };
  }
  return {
    async signers() {
      const kms = client(moto);
      clients.push(kms);
      const calls = countSignCalls(kms);
      const [requester, gateway] = await Promise.all(
        KEY_ALIASES.map((keyId) => createKmsSigner({ client: kms, keyId, alg: 'ES256' })),
      );
      return { requester: requester!, gateway: gateway!, calls };
    },
    stop,
  };
}
