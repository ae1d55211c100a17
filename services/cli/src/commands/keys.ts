// CLI commands for signing keys:
//   countersign keys generate [--name] [--alg]   create a local key pair in <dataDir>/keys
//   countersign keys jwks [--name]               print the public JWKS (local file, or KMS)
// Exit codes: 0 ok, 1 the command could not run, 2 bad arguments or configuration.
import type { Command } from 'commander';
import { AlgorithmSchema, EmbeddedKeyNames, embeddedPaths } from '@countersign/contracts';
import {
  createKmsClient,
  createKmsSigner,
  generateKeyFiles,
  keyFilePaths,
  readJwksFile,
  toJwks,
} from '@countersign/signing';
import type { Jwks } from '@countersign/signing';
import {
  CommandExitCodes,
  loadConfigOr,
  runCommand,
  UsageError,
  type CommandIO,
} from '../command-run.ts';

export type KeysCommandIO = CommandIO;

const KEY_NAMES = Object.values(EmbeddedKeyNames) as string[];

function keyName(name: string | undefined): 'requester' | 'gateway' {
  const n = name ?? EmbeddedKeyNames.REQUESTER;
  if (!KEY_NAMES.includes(n)) throw new UsageError(`--name must be one of ${KEY_NAMES.join(', ')}`);
  return n as 'requester' | 'gateway';
}

export async function keysGenerateCommand(
  options: { name?: string; alg?: string },
  io: KeysCommandIO,
): Promise<number> {
  const name = keyName(options.name);
  const config = loadConfigOr(io, name);
  const alg = AlgorithmSchema.safeParse(options.alg ?? config[name].alg);
  if (!alg.success) throw new UsageError('--alg must be one of RS256, PS256, ES256, ES384');
  if (config.mode === 'aws') {
    throw new UsageError(
      'keys generate makes local keys (embedded mode); in AWS the key lives in KMS',
    );
  }
  const generated = await generateKeyFiles(embeddedPaths(config.dataDir).keysDir, name, alg.data);
  io.stdout.write(
    `${JSON.stringify({ name, alg: alg.data, kid: generated.signer.kid, privateKey: generated.privateKeyPath, jwks: generated.jwksPath })}\n`,
  );
  return CommandExitCodes.OK;
}

export async function keysJwksCommand(
  options: { name?: string },
  io: KeysCommandIO,
): Promise<number> {
  const name = keyName(options.name);
  const config = loadConfigOr(io, name);
  let jwks: Jwks;
  if (config.mode === 'aws') {
    const keyId = config[name].kmsKeyId;
    if (!keyId) throw new UsageError(`no KMS key configured for ${name}`);
    const signer = await createKmsSigner({
      client: createKmsClient(),
      keyId,
      alg: config[name].alg,
    });
    jwks = toJwks([signer]);
  } else {
    jwks = await readJwksFile(keyFilePaths(embeddedPaths(config.dataDir).keysDir, name).jwksPath);
  }
  io.stdout.write(`${JSON.stringify(jwks, null, 2)}\n`);
  return CommandExitCodes.OK;
}

export function register(program: Command, overrides: Partial<KeysCommandIO> = {}): void {
  const io = (): KeysCommandIO => ({
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    ...overrides,
  });
  const keys = program.command('keys').description('local signing keys and public JWKS');
  keys
    .command('generate')
    .description('generate a key pair in <dataDir>/keys (refuses to overwrite)')
    .option('--name <name>', `${KEY_NAMES.join(' | ')}`, EmbeddedKeyNames.REQUESTER)
    .option('--alg <alg>', 'RS256 | PS256 | ES256 | ES384 (default: the configured alg)')
    .action((opts: { name?: string; alg?: string }) =>
      runCommand(io(), () => keysGenerateCommand(opts, io())),
    );
  keys
    .command('jwks')
    .description('print the public JWKS of a key (local file, or KMS GetPublicKey in aws mode)')
    .option('--name <name>', `${KEY_NAMES.join(' | ')}`, EmbeddedKeyNames.REQUESTER)
    .action((opts: { name?: string }) => runCommand(io(), () => keysJwksCommand(opts, io())));
}
