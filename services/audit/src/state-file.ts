// AuditStateStore in a JSON file (written to a temp file, then renamed: a crash never leaves a
// half-written state). Holds one small record per stream, so rewriting it per batch is cheap.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { StreamStart } from './ports.ts';
import type { AuditStateStore } from './sources.ts';

const StateFile = z.strictObject({
  version: z.literal(1),
  heads: z.record(
    z.string(),
    z.strictObject({
      seq: z.number().int().nonnegative(),
      head: z.string().regex(/^[A-Za-z0-9_-]{22,43}$/),
    }),
  ),
});

export function jsonFileAuditState(path: string): AuditStateStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
        throw err;
      }
      const parsed = StateFile.parse(JSON.parse(text));
      return new Map<string, StreamStart>(Object.entries(parsed.heads));
    },
    async save(heads) {
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      const body: z.infer<typeof StateFile> = { version: 1, heads: Object.fromEntries(heads) };
      await writeFile(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
      await rename(tmp, path);
    },
  };
}
