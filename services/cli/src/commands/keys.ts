// CLI commands for signing keys:
//   countersign keys generate [--name] [--alg]   create a local key pair in <dataDir>/keys
//   countersign keys jwks [--name]               print the public JWKS: every trusted key with
//                                                its validity (key history, or the KMS key set)
//   countersign keys rotate [--name]             next key in the embedded key history (issue 18)
// Exit codes: 0 ok, 1 the command could not run, 2 bad arguments or configuration.
import type { Command } from 'commander';
import {
  AlgorithmSchema,
  EmbeddedKeyNames,
  MAX_LIFETIME_SEC,
  embeddedPaths,
} from '@countersign/contracts';
import { createKmsClient, generateKeyFiles, rotateKeyFiles } from '@countersign/signing';
import { partyKeySetWhere, partyKeys, publishedJwks } from '@countersign/verifier';
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
  const config = loadConfigOr(io, 'keys');
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
  const config = loadConfigOr(io, 'keys');
  const keys = partyKeys(config, name, { kms: () => createKmsClient() });
  if (!keys) {
    throw new UsageError(
      config.mode === 'aws'
        ? `no keys configured for ${name}: set ${partyKeySetWhere(name)} or its KMS key id`
        : `no key history for ${name} yet: \`countersign keys generate --name ${name}\` or a first start`,
    );
  }
  io.stdout.write(`${JSON.stringify(await publishedJwks(keys), null, 2)}\n`);
  return CommandExitCodes.OK;
}

/** Seconds before the new key signs: every verifier re-reads the key history within ~1 s. */
const ACTIVATE_AFTER_SEC = 5;

function wholeSeconds(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]{1,7}$/.test(v)) throw new UsageError(`${flag} must be a whole number of seconds`);
  return Number(v);
}

/**
 * The next key of an embedded party: published now with `nbf` a few seconds ahead (so every
 * verifier knows it before it signs), the previous key retired after the longest a token it
 * signed can still be in flight (max token lifetime + clock skew). The key history file is the
 * configuration every process shares: signers switch at `nbf`, verifiers and audit follow.
 */
export async function keysRotateCommand(
  options: { name?: string; alg?: string; activateAfter?: string; retireAfter?: string },
  io: KeysCommandIO,
  now: () => number = Date.now,
): Promise<number> {
  const name = keyName(options.name);
  const config = loadConfigOr(io, 'keys');
  if (config.mode === 'aws') {
    throw new UsageError(
      'keys rotate rotates local keys (embedded mode); in AWS follow the runbook in infra/README.md (new KMS key, alias switch)',
    );
  }
  const alg = options.alg === undefined ? undefined : AlgorithmSchema.safeParse(options.alg);
  if (alg && !alg.success) throw new UsageError('--alg must be one of RS256, PS256, ES256, ES384');
  const rotated = await rotateKeyFiles(embeddedPaths(config.dataDir).keysDir, name, {
    ...(alg?.success ? { alg: alg.data } : {}),
    now: now(),
    activateAfterSec: wholeSeconds(options.activateAfter, '--activate-after') ?? ACTIVATE_AFTER_SEC,
    retirePreviousAfterSec:
      wholeSeconds(options.retireAfter, '--retire-after') ??
      MAX_LIFETIME_SEC + config.gateway.clockSkewSec,
  });
  io.stdout.write(
    `${JSON.stringify({
      name,
      kid: rotated.kid,
      alg: rotated.alg,
      generation: rotated.generation,
      signsFrom: new Date(rotated.nbf * 1000).toISOString(),
      retired: rotated.retired.map((r) => ({
        kid: r.kid,
        at: new Date(r.exp * 1000).toISOString(),
      })),
      privateKey: rotated.privateKeyPath,
      jwks: rotated.jwksPath,
    })}\n`,
  );
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
  keys
    .command('rotate')
    .description(
      'add the next key to the key history: it signs from a few seconds on, the previous key stays trusted for max token lifetime + skew (embedded mode)',
    )
    .option('--name <name>', `${KEY_NAMES.join(' | ')}`, EmbeddedKeyNames.REQUESTER)
    .option('--alg <alg>', "alg of the new key (default: the current key's)")
    .option(
      '--activate-after <sec>',
      `seconds until the new key signs (default ${ACTIVATE_AFTER_SEC})`,
    )
    .option(
      '--retire-after <sec>',
      'seconds the previous key stays trusted after that (default: max token lifetime + skew)',
    )
    .action((opts: { name?: string; alg?: string; activateAfter?: string; retireAfter?: string }) =>
      runCommand(io(), () => keysRotateCommand(opts, io())),
    );
}
