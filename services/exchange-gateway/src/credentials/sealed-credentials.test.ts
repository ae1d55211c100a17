import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { signRequest } from '../exchange-api.ts';
import { createLocalKekDataKeys, ensureKekFile, type DataKeyProvider } from './data-keys.ts';
import {
  parseCredentialsLocation,
  readSealedCredentials,
  writeSealedCredentials,
} from './credentials-location.ts';
import {
  credentialsContext,
  openCredentials,
  parseSealedCredentials,
  sealCredentials,
  type SealedCredentials,
} from './sealed-credentials.ts';

const SECRET = 'Sup3r-Secret-Exchange-Value-7f3a';
const API_KEY = 'api-key-1234';
const context = credentialsContext('gw-1', 'venue-a');

function kek(): { dir: string; dataKeys: DataKeyProvider; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'creds-'));
  const path = join(dir, 'keys', 'kek.key');
  ensureKekFile(path);
  return { dir, path, dataKeys: createLocalKekDataKeys({ path }) };
}

const seal = (dataKeys: DataKeyProvider, ctx = context) =>
  sealCredentials({
    dataKeys,
    context: ctx,
    apiKey: Buffer.from(API_KEY),
    secret: Buffer.from(SECRET),
  });

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('sealed exchange credentials (local key-encryption key)', () => {
  it('seal then open gives back the key, and an HMAC under the original secret', async () => {
    const { dataKeys } = kek();
    const sealed = await seal(dataKeys);
    expect(Object.keys(sealed).sort()).toEqual(
      ['ciphertext', 'context', 'encryptedDataKey', 'iv', 'keyId', 'tag', 'v'].sort(),
    );
    expect(JSON.stringify(sealed)).not.toContain(SECRET);
    const creds = await openCredentials({ sealed, dataKeys, context });
    expect(creds.apiKey).toBe(API_KEY);
    const { createSecretKey } = await import('node:crypto');
    expect(signRequest(creds.secret, 'x')).toBe(
      signRequest(createSecretKey(Buffer.from(SECRET)), 'x'),
    );
  });

  it('never shows the secret: JSON, inspect, String', async () => {
    const { dataKeys } = kek();
    const creds = await openCredentials({ sealed: await seal(dataKeys), dataKeys, context });
    for (const text of [
      JSON.stringify({ creds }),
      inspect(creds, { depth: 5, showHidden: true }),
      String(creds),
    ]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(API_KEY);
    }
  });

  it('wipes the data key and the input buffers once sealed', async () => {
    const { dataKeys } = kek();
    const handed: Buffer[] = [];
    const spy: DataKeyProvider = {
      ...dataKeys,
      async generateDataKey(ctx) {
        const dk = await dataKeys.generateDataKey(ctx);
        handed.push(dk.plaintext);
        return dk;
      },
    };
    const apiKey = Buffer.from(API_KEY);
    const secret = Buffer.from(SECRET);
    await sealCredentials({ dataKeys: spy, context, apiKey, secret });
    expect(handed).toHaveLength(1);
    expect(handed[0]!.every((b) => b === 0)).toBe(true);
    expect(apiKey.every((b) => b === 0) && secret.every((b) => b === 0)).toBe(true);
  });

  it('refuses another gateway or exchange before decrypting anything', async () => {
    const { dataKeys } = kek();
    const sealed = await seal(dataKeys);
    let decrypts = 0;
    const counting: DataKeyProvider = {
      ...dataKeys,
      decryptDataKey: (i) => (decrypts++, dataKeys.decryptDataKey(i)),
    };
    for (const other of [
      credentialsContext('gw-2', 'venue-a'),
      credentialsContext('gw-1', 'venue-b'),
    ]) {
      const err = await rejection(openCredentials({ sealed, dataKeys: counting, context: other }));
      expect(err.code).toBe('CREDENTIALS_INVALID');
      expect(err.message).toMatch(
        /sealed credentials are for gateway "gw-1" and exchange "venue-a"/,
      );
    }
    expect(decrypts).toBe(0);
  });

  it('a file edited to name another gateway does not decrypt for that gateway (context is bound)', async () => {
    const { dataKeys } = kek();
    const sealed = await seal(dataKeys);
    const other = credentialsContext('gw-2', 'venue-a');
    const edited = { ...sealed, context: other } as SealedCredentials;
    const err = await rejection(openCredentials({ sealed: edited, dataKeys, context: other }));
    expect(err).toMatchObject({ code: 'CREDENTIALS_INVALID' });
    expect(err.message).toMatch(/does not decrypt under this encryption context/);
  });

  it('refuses tampered ciphertext, tag, iv and wrapped key, and another KEK', async () => {
    const { dataKeys } = kek();
    const sealed = await seal(dataKeys);
    const flip = (b64: string) => {
      const b = Buffer.from(b64, 'base64');
      b[b.length - 1]! ^= 1;
      return b.toString('base64');
    };
    for (const field of ['ciphertext', 'tag', 'iv', 'encryptedDataKey'] as const) {
      const err = await rejection(
        openCredentials({ sealed: { ...sealed, [field]: flip(sealed[field]) }, dataKeys, context }),
      );
      expect(err.code).toBe('CREDENTIALS_INVALID');
    }
    const err = await rejection(openCredentials({ sealed, dataKeys: kek().dataKeys, context }));
    expect(err.message).toMatch(/sealed under key local:/);
  });

  it('refuses a KEK file readable by others', async () => {
    const { dataKeys, path } = kek();
    const sealed = await seal(dataKeys);
    chmodSync(path, 0o644);
    const err = await rejection(openCredentials({ sealed, dataKeys, context }));
    expect(err.message).toMatch(/readable by others/);
  });

  it('parses files strictly and names what is wrong', async () => {
    const { dataKeys } = kek();
    const sealed = await seal(dataKeys);
    expect(() => parseSealedCredentials('not json')).toThrow(/not JSON/);
    expect(() => parseSealedCredentials(JSON.stringify({ ...sealed, extra: 1 }))).toThrow(
      expect.objectContaining({ code: 'CREDENTIALS_INVALID' }),
    );
    expect(() => parseSealedCredentials(JSON.stringify({ ...sealed, iv: 'AAAA' }))).toThrow(/iv/);
    expect(() =>
      parseSealedCredentials(
        JSON.stringify({ ...sealed, context: { ...sealed.context, purpose: 'x' } }),
      ),
    ).toThrow(/context.purpose/);
  });

  it('writes files 0600, atomically, and replaces one only when asked', async () => {
    const { dataKeys, dir } = kek();
    const sealed = await seal(dataKeys);
    const location = parseCredentialsLocation(join(dir, 'sealed.json'));
    const ssm = () => {
      throw new Error('no SSM here');
    };
    await writeSealedCredentials(location, sealed, { overwrite: false, ssm });
    const { statSync } = await import('node:fs');
    expect(statSync(join(dir, 'sealed.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'sealed.json'), 'utf8')).not.toContain(SECRET);
    await expect(
      writeSealedCredentials(location, sealed, { overwrite: false, ssm }),
    ).rejects.toThrow(/--force/);
    await writeSealedCredentials(location, sealed, { overwrite: true, ssm });
    expect(await readSealedCredentials(location, ssm)).toEqual(sealed);
  });

  it('reads ssm:<name> locations and refuses bad parameter names', () => {
    expect(parseCredentialsLocation('ssm:/countersign/gw/exchange')).toEqual({
      kind: 'ssm',
      name: '/countersign/gw/exchange',
    });
    expect(() => parseCredentialsLocation('ssm:bad name')).toThrow(/SSM parameter name/);
  });
});
