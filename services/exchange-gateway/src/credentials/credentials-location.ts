// Where a sealed credentials blob lives: a file (embedded runtime, 0600, written atomically) or
// an SSM parameter (`ssm:<name>`, AWS; see infra/README.md for why SSM). The blob is already
// ciphertext, so the parameter is a plain String: a SecureString would wrap it in a second key.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { errorCodeOf } from '@countersign/contracts';
import { GatewayError } from '../errors.ts';
import { parseSealedCredentials, type SealedCredentials } from './sealed-credentials.ts';

const SSM_PREFIX = 'ssm:';
/** SSM parameter names: letters, digits and . - _ /, at most 1011 characters with the path. */
const SSM_NAME = /^\/?[A-Za-z0-9_.\-/]{1,1011}$/;
const MAX_SEALED_BYTES = 16 * 1024;

export type CredentialsLocation =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'ssm'; readonly name: string };

export function parseCredentialsLocation(raw: string): CredentialsLocation {
  if (!raw.startsWith(SSM_PREFIX)) return { kind: 'file', path: raw };
  const name = raw.slice(SSM_PREFIX.length);
  if (!SSM_NAME.test(name)) {
    throw new GatewayError('CONFIG_INVALID', `"${raw.slice(0, 80)}" is not an SSM parameter name`);
  }
  return { kind: 'ssm', name };
}

export function describeLocation(location: CredentialsLocation): string {
  return location.kind === 'file' ? location.path : `${SSM_PREFIX}${location.name}`;
}

/** No SDK error as cause (it carries the HTTP exchange); its name goes into the message. */
function invalid(message: string): GatewayError<'CREDENTIALS_INVALID'> {
  return new GatewayError('CREDENTIALS_INVALID', message);
}

/** Reads and schema-checks a sealed blob (nothing is decrypted here). */
export async function readSealedCredentials(
  location: CredentialsLocation,
  ssm: () => SSMClient,
): Promise<SealedCredentials> {
  let text: string;
  if (location.kind === 'file') {
    let bytes: Buffer;
    try {
      bytes = readFileSync(location.path);
    } catch (err) {
      throw invalid(
        `cannot read sealed credentials ${location.path}: ${errorCodeOf(err) ?? 'error'}`,
      );
    }
    if (bytes.length > MAX_SEALED_BYTES) {
      throw invalid(
        `sealed credentials ${location.path} are larger than ${MAX_SEALED_BYTES} bytes`,
      );
    }
    text = bytes.toString('utf8');
  } else {
    try {
      const out = await ssm().send(
        new GetParameterCommand({ Name: location.name, WithDecryption: true }),
      );
      text = out.Parameter?.Value ?? '';
    } catch (err) {
      const name = String((err as Error).name);
      const why = name === 'ParameterNotFound' ? 'no such parameter (seal them first)' : name;
      throw invalid(`cannot read sealed credentials ${describeLocation(location)}: ${why}`);
    }
  }
  return parseSealedCredentials(text);
}

/**
 * Writes a sealed blob. A file is written to a temporary name (0600) and renamed into place;
 * an existing file or parameter is replaced only with `overwrite` (rotation).
 */
export async function writeSealedCredentials(
  location: CredentialsLocation,
  sealed: SealedCredentials,
  options: { readonly overwrite: boolean; readonly ssm: () => SSMClient },
): Promise<void> {
  const text = `${JSON.stringify(sealed, null, 2)}\n`;
  if (location.kind === 'ssm') {
    try {
      await options.ssm().send(
        new PutParameterCommand({
          Name: location.name,
          Value: text,
          Type: 'String',
          Tier: 'Standard',
          Overwrite: options.overwrite,
          Description: `countersign sealed exchange credentials (${sealed.context.gateway} → ${sealed.context.exchange})`,
        }),
      );
    } catch (err) {
      const name = String((err as Error).name);
      throw invalid(
        name === 'ParameterAlreadyExists'
          ? `${describeLocation(location)} exists; pass --force to replace it`
          : `cannot write ${describeLocation(location)}: ${name}`,
      );
    }
    return;
  }
  const { path } = location;
  if (!options.overwrite && existsSync(path)) {
    throw invalid(`${path} exists; pass --force to replace it`);
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
