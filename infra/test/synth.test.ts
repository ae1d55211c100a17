// The CDK CLI path a fresh clone takes: `npx cdk synth --quiet` from the repo root, no AWS
// credentials, real esbuild bundling. Asserts the template and ESM bundles land in the output.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lib/paths.ts';

describe('npx cdk synth', () => {
  let out: string;
  let result: ReturnType<typeof spawnSync>;
  beforeAll(() => {
    // Inside the repo (infra/cdk.out is git-ignored) so the bundles can resolve the AWS SDK
    // from node_modules when the last test imports them, as the Lambda runtime provides it.
    mkdirSync(join(REPO_ROOT, 'infra', 'cdk.out'), { recursive: true });
    out = mkdtempSync(join(REPO_ROOT, 'infra', 'cdk.out', 'test-synth-'));
    // No AWS_* variables at all: synth must not need an account, a region or credentials.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('CDK_')),
    );
    result = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--output', out], {
      cwd: REPO_ROOT,
      env: { ...env, CDK_DISABLE_CLI_TELEMETRY: 'true' },
      encoding: 'utf8',
      timeout: 150_000,
    });
  }, 180_000);
  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
  });

  it('exits 0 and writes the template', () => {
    expect(result.status, `${String(result.stderr)}`.slice(-3000)).toBe(0);
    const template = join(out, 'Countersign.template.json');
    expect(existsSync(template)).toBe(true);
    const json = JSON.parse(readFileSync(template, 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const functions = Object.values(json.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::Function',
    );
    expect(functions).toHaveLength(4);
    // cdk-nag ran as a validation plugin and passed (a violation fails the synth above).
    expect(existsSync(join(out, 'validation-report.json'))).toBe(true);
  });

  it('bundles each handler as an ESM .mjs with a require shim', () => {
    const assets = readdirSync(out).filter((d) => d.startsWith('asset.'));
    expect(assets).toHaveLength(4);
    for (const dir of assets) {
      const files = readdirSync(join(out, dir));
      expect(files).toContain('index.mjs');
      expect(files).toContain('index.mjs.map');
      const code = readFileSync(join(out, dir, 'index.mjs'), 'utf8');
      expect(code.startsWith('import { createRequire as __countersignCreateRequire }')).toBe(true);
      expect(code).toMatch(/export\s*\{[^}]*\bhandler\b[^}]*\}/);
      // The AWS SDK and Node's built-ins are the runtime's (some bundled libraries import
      // `zlib` or `util` without the `node:` prefix); nothing else is left as a bare import.
      // Import statements only (`import{a as b}from"x"`, `import*as c from"x"`, `import"x"`): a
      // bundled library may contain the text `from"` in a string (undici does).
      const bare = [
        ...code.matchAll(/(?:^|[;}\n])\s*import\s*(?:[\w$*{}\s,]+?from\s*)?"([^"./][^"]*)"/g),
      ].map((m) => m[1]!);
      expect(bare.filter((m) => !m.startsWith('@aws-sdk/') && !isBuiltin(m))).toEqual([]);
    }
  });

  it('loads each bundle as a module exporting a handler function', async () => {
    for (const dir of readdirSync(out).filter((d) => d.startsWith('asset.'))) {
      const mod = (await import(pathToFileURL(join(out, dir, 'index.mjs')).href)) as {
        handler?: unknown;
      };
      expect(typeof mod.handler, dir).toBe('function');
    }
    // Importing four bundles (each with its SDK clients) outlasts the default on a busy machine.
  }, 60_000);
});
