import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';
import { parseConfigText } from './config-file.ts';

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function dataDir(config?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-config-'));
  if (config !== undefined) writeFileSync(join(dir, 'config.jsonc'), config);
  return dir;
}

describe('the config file (JSONC)', () => {
  it('takes comments and trailing commas, and refuses keys given twice or __proto__', () => {
    const ok = parseConfigText('// c\n{ /* x */ "mode": "embedded", }\n', 'f.jsonc');
    expect(ok.ok && ok.value.data).toEqual({ mode: 'embedded' });
    const dup = parseConfigText('{\n  "gateway": { "id": "a",\n "id": "b" }\n}', 'f.jsonc');
    expect(dup.ok ? [] : dup.issues).toEqual([
      { path: 'f.jsonc:3:2 gateway.id', message: '"id" is given twice' },
    ]);
    const proto = parseConfigText('{ "__proto__": { "mode": "aws" } }', 'f.jsonc');
    expect(proto.ok ? [] : proto.issues.map((i) => i.message)).toEqual([
      '"__proto__" is not allowed as a key',
    ]);
  });

  it('reports a syntax error with its line and column', () => {
    const bad = parseConfigText('{\n  "mode": "embedded"\n  "logLevel": "warn"\n}', 'f.jsonc');
    expect(bad.ok ? [] : bad.issues).toEqual([
      { path: 'f.jsonc:3:3', message: 'not valid JSON with comments (CommaExpected)' },
    ]);
    const empty = parseConfigText('// nothing\n', 'f.jsonc');
    expect(empty.ok ? [] : empty.issues.map((i) => i.path)).toEqual(['f.jsonc:2:1']);
    const array = parseConfigText('[]', 'f.jsonc');
    expect(array.ok ? [] : array.issues).toEqual([
      { path: 'f.jsonc:1:1', message: 'must hold a JSON object' },
    ]);
  });

  it('resolves relative paths against the file, keeps absolute ones and ssm: names', () => {
    const parsed = parseConfigText(
      JSON.stringify({
        audit: { stateFile: 'state.json' },
        checkpoints: { mirror: '/mnt/mirror' },
        exchange: { credentials: 'ssm:/cs/creds', kekFile: 'keys/kek' },
        gateway: { policies: [{ jwksFile: 'keys/requester.jwks.json' }] },
      }),
      '/etc/countersign/config.jsonc',
    );
    expect(parsed.ok && parsed.value.data).toEqual({
      audit: { stateFile: '/etc/countersign/state.json' },
      checkpoints: { mirror: '/mnt/mirror' },
      exchange: { credentials: 'ssm:/cs/creds', kekFile: '/etc/countersign/keys/kek' },
      gateway: { policies: [{ jwksFile: '/etc/countersign/keys/requester.jwks.json' }] },
    });
  });
});

describe('loadConfig: defaults < the data directory config file < env', () => {
  it('reads <dataDir>/config.jsonc by default, and env wins over it', () => {
    const dir = dataDir(
      '{\n  // the gateway\n  "gateway": { "id": "gw-file", "concurrency": 4 }\n}\n',
    );
    const fromFile = loadConfig({ COUNTERSIGN_DATA_DIR: dir }, 'gateway');
    expect(fromFile.gateway).toMatchObject({ id: 'gw-file', concurrency: 4 });
    expect(fromFile.dataDir).toBe(dir);
    const env = loadConfig({ COUNTERSIGN_DATA_DIR: dir, COUNTERSIGN_GATEWAY_ID: 'gw-env' });
    expect(env.gateway).toMatchObject({ id: 'gw-env', concurrency: 4 });
  });

  it('works without a file (defaults), but a file COUNTERSIGN_CONFIG_FILE names must exist', () => {
    expect(loadConfig({ COUNTERSIGN_DATA_DIR: dataDir() }).gateway.id).toBe('demo-gateway');
    const missing = join(dataDir(), 'nope.jsonc');
    expect(issues(() => loadConfig({ COUNTERSIGN_CONFIG_FILE: missing }))).toEqual([
      `${missing}: cannot be read (ENOENT)`,
    ]);
  });

  it('COUNTERSIGN_CONFIG_FILE replaces the data directory file', () => {
    const dir = dataDir('{ "gateway": { "id": "in-data-dir" } }');
    const other = join(dataDir(), 'other.jsonc');
    writeFileSync(other, '{ "gateway": { "id": "named" }, "dataDir": "data" }');
    const config = loadConfig({ COUNTERSIGN_DATA_DIR: dir, COUNTERSIGN_CONFIG_FILE: other });
    expect(config.gateway.id).toBe('named');
    expect(config.dataDir).toBe(dir); // env still wins
    const own = loadConfig({ COUNTERSIGN_CONFIG_FILE: other });
    expect(own.dataDir).toBe(join(other, '..', 'data'));
  });

  it('names the file, line and field path of a bad field, and env variables by name', () => {
    const dir = dataDir(
      [
        '{',
        '  "requester": {',
        '    "port": 99999,',
        '    "apiKeys": [{ "name": "ops", "sha256": "nothex", "accounts": ["a"] }]',
        '  },',
        '  "gatway": {}',
        '}',
      ].join('\n'),
    );
    const file = join(dir, 'config.jsonc');
    expect(
      issues(() => loadConfig({ COUNTERSIGN_DATA_DIR: dir, COUNTERSIGN_GATEWAY_ID: 'bad id!' })),
    ).toEqual([
      `${file}:3:5 requester.port: must be a whole number between 0 and 65535`,
      `${file}:4:34 requester.apiKeys[0].sha256: must be the hex SHA-256 of the key`,
      'COUNTERSIGN_GATEWAY_ID: must match [A-Za-z0-9._:-]{1,64}',
      `${file}:6:3 gatway: Unrecognized key: "gatway"`,
    ]);
  });

  it('a data directory file cannot point at another data directory', () => {
    const dir = dataDir('{ "dataDir": "/somewhere/else" }');
    expect(issues(() => loadConfig({ COUNTERSIGN_DATA_DIR: dir }))).toEqual([
      expect.stringMatching(/config\.jsonc:1:3 dataDir: the config file inside a data directory/),
    ]);
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'config.jsonc'), '{ "dataDir": "." }');
    expect(loadConfig({ COUNTERSIGN_DATA_DIR: join(dir, 'sub') }).dataDir).toBe(join(dir, 'sub'));
  });
});
