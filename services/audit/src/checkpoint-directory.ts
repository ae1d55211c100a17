// CheckpointSource over a directory of `<stream with / replaced by _>.jws` files (the embedded
// gateway writes them to embeddedPaths(dataDir).checkpointsDir). A missing directory = none yet.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointSource } from './ports.ts';

export function directoryCheckpoints(dir: string): CheckpointSource {
  return {
    async list() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      const out: { stream: string; token: string }[] = [];
      for (const name of names.filter((n) => n.endsWith('.jws')).sort()) {
        const base = name.slice(0, -'.jws'.length);
        const cut = base.lastIndexOf('_');
        const stream = cut < 0 ? base : `${base.slice(0, cut)}/${base.slice(cut + 1)}`;
        const token = (await readFile(join(dir, name), 'utf8')).trim();
        out.push({ stream, token });
      }
      return out;
    },
  };
}

/** Checkpoints held in memory (tests, or an object store already read). */
export function staticCheckpoints(tokens: readonly string[]): CheckpointSource {
  return { list: () => Promise.resolve(tokens.map((token) => ({ stream: '', token }))) };
}
