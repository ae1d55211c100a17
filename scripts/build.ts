// `npm run build` (after the type check): bundles the three Lambda handlers with the local
// esbuild exactly as the CDK app does (the same entries and BUNDLING options from infra/lib),
// into dist/lambda/<name>/index.mjs, then imports each bundle and checks it exports a `handler`.
// A quick proof, without CDK or AWS, that every handler bundles and loads; the files can also be
// zipped for a deploy by other tooling. The CLI needs no build: it runs from source with tsx.
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Format } from 'esbuild';
import { BUNDLING } from '../infra/lib/countersign-function.ts';
import { LAMBDA_ENTRIES, REPO_ROOT } from '../infra/lib/paths.ts';

const OUT = join(REPO_ROOT, 'dist', 'lambda');

async function bundle(name: string, entry: string): Promise<string> {
  const outfile = join(OUT, name, 'index.mjs');
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: String(BUNDLING.format) as Format,
    ...(BUNDLING.target ? { target: BUNDLING.target } : {}),
    ...(BUNDLING.mainFields ? { mainFields: BUNDLING.mainFields } : {}),
    ...(BUNDLING.banner ? { banner: { js: BUNDLING.banner } } : {}),
    external: BUNDLING.externalModules ?? [],
    minify: BUNDLING.minify ?? false,
    sourcemap: BUNDLING.sourceMap ?? false,
    logLevel: 'warning',
  });
  return outfile;
}

await rm(OUT, { recursive: true, force: true });
let failed = 0;
for (const [name, entry] of Object.entries(LAMBDA_ENTRIES)) {
  const outfile = await bundle(name, entry);
  const kib = (statSync(outfile).size / 1024).toFixed(0);
  // Loading must not need the environment (handlers read it on first invocation): a bundle that
  // throws here would fail every cold start.
  const loaded = (await import(pathToFileURL(outfile).href)) as { handler?: unknown };
  const ok = typeof loaded.handler === 'function';
  if (!ok) failed++;
  process.stdout.write(
    `${ok ? 'ok  ' : 'FAIL'} ${name.padEnd(10)} ${kib.padStart(6)} KiB  ${outfile.slice(REPO_ROOT.length + 1)}${ok ? '' : '  (no handler export)'}\n`,
  );
}
process.exitCode = failed > 0 ? 1 : 0;
