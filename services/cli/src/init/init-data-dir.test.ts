// `countersign init` and the file it writes: every field explained, read back as written, the
// API key shown once and kept only as its SHA-256, nothing overwritten without --force.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CONFIG_ENV,
  loadConfig,
  parseConfig,
  parseConfigText,
  type Clock,
} from '@countersign/contracts';
import { register } from '../commands/init.ts';
import { FIELD_DOCS, renderConfigFile } from './config-template.ts';
import { ensureDataDirConfig, initDataDir } from './init-data-dir.ts';

const clock: Clock = { now: () => Date.parse('2026-01-02T03:04:05Z') };

function dataDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'countersign-init-')), 'data');
}

function sink() {
  const chunks: string[] = [];
  return { write: (t: string) => chunks.push(t), text: () => chunks.join('') };
}

async function runInit(args: string[], env: Record<string, string>) {
  const stdout = sink();
  const stderr = sink();
  const program = new Command('countersign').exitOverride();
  register(program, { env, stdout, stderr, clock });
  await program.parseAsync(['node', 'countersign', 'init', ...args]);
  const code = process.exitCode;
  process.exitCode = undefined;
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('countersign init', () => {
  it('writes a config every command reads back as written, and prints the API key once', async () => {
    const dir = dataDir();
    const env = { COUNTERSIGN_DATA_DIR: dir };
    const run = await runInit([], env);
    expect(run.code).toBe(0);
    // stdout is the key alone; its SHA-256 is in the file, the key itself nowhere.
    const key = run.stdout.trim();
    expect(run.stdout).toMatch(/^cs_[A-Za-z0-9_-]{43}\n$/);
    const file = join(dir, 'config.jsonc');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(createHash('sha256').update(key).digest('hex'));
    for (const name of readdirSync(dir)) {
      if (statSync(join(dir, name)).isFile())
        expect(readFileSync(join(dir, name), 'utf8')).not.toContain(key);
    }
    expect(run.stderr).toContain(`wrote ${file}: requester demo-requester, gateway demo-gateway`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keys', 'requester.pem')).mode & 0o777).toBe(0o600);

    const config = loadConfig(env);
    // The written defaults are the defaults; the generated parts are the API key and the policy.
    const defaults = parseConfig({ env });
    expect({
      ...config,
      requester: { ...config.requester, apiKeys: [] },
      gateway: { ...config.gateway, policies: [] },
    }).toEqual(defaults);
    expect(config.requester.apiKeys).toEqual([
      {
        name: 'default',
        sha256: createHash('sha256').update(key).digest('hex'),
        accounts: ['acct-alpha', 'acct-bravo', 'acct-charlie', 'acct-delta', 'acct-echo'],
      },
    ]);
    const [policy] = config.gateway.policies;
    expect(policy).toMatchObject({ id: 'demo-requester', maxNotional: '100000' });
    // Relative in the file, resolved against the data directory: the requester's real JWKS.
    expect(text).toContain('"jwksFile": "keys/requester.jwks.json"');
    expect(policy?.jwksFile).toBe(join(dir, 'keys', 'requester.jwks.json'));
    expect(existsSync(policy!.jwksFile!)).toBe(true);
  });

  it('refuses to overwrite; --force keeps the old file as a .bak', async () => {
    const dir = dataDir();
    const env = { COUNTERSIGN_DATA_DIR: dir };
    const first = await runInit([], env);
    const second = await runInit([], env);
    expect(second.code).toBe(1);
    expect(second.stdout).toBe('');
    expect(second.stderr).toMatch(/config\.jsonc exists; keep it, or run init with --force/);
    const before = readFileSync(join(dir, 'config.jsonc'), 'utf8');
    const forced = await runInit(['--force'], env);
    expect(forced.code).toBe(0);
    expect(forced.stdout.trim()).not.toBe(first.stdout.trim());
    const backups = readdirSync(dir).filter((n) => n.endsWith('.bak'));
    expect(backups).toEqual(['config.jsonc.2026-01-02T03-04-05-000Z.bak']);
    expect(readFileSync(join(dir, backups[0]!), 'utf8')).toBe(before);
  });

  it('writes what env sets, and env still wins over the file afterwards', async () => {
    const dir = dataDir();
    await runInit([], { COUNTERSIGN_DATA_DIR: dir, COUNTERSIGN_GATEWAY_ID: 'gw-1' });
    expect(loadConfig({ COUNTERSIGN_DATA_DIR: dir }).gateway.id).toBe('gw-1');
    const env = {
      COUNTERSIGN_DATA_DIR: dir,
      COUNTERSIGN_GATEWAY_ID: 'gw-2',
      COUNTERSIGN_HTTP_PORT: '0',
    };
    expect(loadConfig(env)).toMatchObject({ gateway: { id: 'gw-2' }, requester: { port: 0 } });
  });

  it('is a usage error in aws mode or with a bad variable (exit 2)', async () => {
    const aws = await runInit([], { COUNTERSIGN_DATA_DIR: dataDir(), COUNTERSIGN_MODE: 'aws' });
    expect(aws.code).toBe(2);
    expect(aws.stderr).toMatch(/init prepares an embedded data directory/);
    const bad = await runInit([], { COUNTERSIGN_DATA_DIR: dataDir(), COUNTERSIGN_HTTP_PORT: 'x' });
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toBe(
      'countersign init: COUNTERSIGN_HTTP_PORT: must be a whole number between 0 and 65535\n',
    );
  });
});

describe('the first npm start on a data directory', () => {
  it('writes the same file through the same code, keeping the key in demo-api-key (0600)', async () => {
    const dir = dataDir();
    const created = await ensureDataDirConfig({ COUNTERSIGN_DATA_DIR: dir }, clock);
    const keyFile = join(dir, 'demo-api-key');
    expect(created?.keyFile).toBe(keyFile);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, 'utf8').trim();
    expect(loadConfig({ COUNTERSIGN_DATA_DIR: dir }).requester.apiKeys[0]?.sha256).toBe(
      createHash('sha256').update(key).digest('hex'),
    );
    // Later runs leave it alone.
    expect(await ensureDataDirConfig({ COUNTERSIGN_DATA_DIR: dir }, clock)).toBeNull();
  });

  it('keeps the key of a directory an older version made (demo-api-key, no config file)', async () => {
    const dir = dataDir();
    await initDataDir({ env: { COUNTERSIGN_DATA_DIR: join(dir, '..', 'other') }, clock });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'demo-api-key'), 'cs_old-key\n', { mode: 0o600 });
    await ensureDataDirConfig({ COUNTERSIGN_DATA_DIR: dir }, clock);
    expect(loadConfig({ COUNTERSIGN_DATA_DIR: dir }).requester.apiKeys[0]?.sha256).toBe(
      createHash('sha256').update('cs_old-key').digest('hex'),
    );
  });
});

describe('the config file text', () => {
  it('explains every field, set or not, in lines of at most 100 characters', () => {
    // Every optional field set, so each one is written as a value (not only as a comment).
    const full = parseConfig({
      env: {
        COUNTERSIGN_REQUESTER_KMS_KEY_ID: 'alias/r',
        COUNTERSIGN_GATEWAY_KMS_KEY_ID: 'alias/g',
        COUNTERSIGN_SIGN_CONCURRENCY: '8',
        COUNTERSIGN_IDEMPOTENCY_TABLE: 't',
        COUNTERSIGN_QUEUE_URL: 'https://sqs.example/q.fifo',
        COUNTERSIGN_ARCHIVE_ARN: 'arn:aws:events:x',
        COUNTERSIGN_AUDIT_QUEUE_URL: 'https://sqs.example/a',
        COUNTERSIGN_AUDIT_STATE: '/s.json',
        COUNTERSIGN_CHECKPOINT_MIRROR: '/m',
        COUNTERSIGN_CHECKPOINT_BUCKET: 'bucket',
        COUNTERSIGN_NONCE_TABLE: 'n',
        COUNTERSIGN_EXCHANGE_URL: 'https://x.example',
        COUNTERSIGN_EXCHANGE_CREDENTIALS: 'ssm:/c',
        COUNTERSIGN_EXCHANGE_KMS_KEY_ID: 'k',
        COUNTERSIGN_EXCHANGE_KEK_FILE: '/k',
        COUNTERSIGN_POLICIES: JSON.stringify([
          {
            id: 'p',
            accounts: ['a'],
            symbols: ['BTC-USD'],
            maxNotional: '1',
            jwks: { keys: [{ kty: 'EC' }] },
            jwksFile: '/j',
          },
        ]),
      },
    });
    const text = renderConfigFile(full, ['header']);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
    for (const path of Object.values(CONFIG_ENV)) {
      // The data directory is where the file is: the file never names it.
      if (path.join('.') !== 'dataDir') expect(FIELD_DOCS[path.join('.')]).toBeDefined();
    }
    const parsed = parseConfigText(text, '/config.jsonc');
    expect(parsed.ok).toBe(true);
    const back = parseConfig({ env: {}, file: parsed.ok ? parsed.value.data : undefined });
    expect(back).toEqual({ ...full, dataDir: '.countersign' });
    // A field added to the schema without a line here is caught by the renderer itself.
    expect(() =>
      renderConfigFile({ ...full, nonce: { ...full.nonce, extra: 1 } } as never, []),
    ).toThrow('no doc line for config field nonce.extra');
  });
});
