// Every plaintext the AES-GCM deciphers hand out while opening sealed credentials (the data key
// unwrapped by the local key-encryption key, the payload holding the API secret) is zeroed once
// opening is done: a copy left behind stays readable in the heap until it is collected.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { createLocalKekDataKeys, ensureKekFile } from './data-keys.ts';
import { credentialsContext, openCredentials, sealCredentials } from './sealed-credentials.ts';

const outputs = vi.hoisted(() => [] as Buffer[]);

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof crypto>();
  return {
    ...actual,
    // Records what each decipher returns (update and final), as the code under test sees it.
    createDecipheriv: (...args: Parameters<typeof actual.createDecipheriv>) => {
      const decipher = actual.createDecipheriv(...args);
      const update = decipher.update.bind(decipher) as (data: Buffer) => Buffer;
      const final = decipher.final.bind(decipher) as () => Buffer;
      return Object.assign(decipher, {
        update: (data: Buffer) => {
          const out = update(data);
          outputs.push(out);
          return out;
        },
        final: () => {
          const out = final();
          outputs.push(out);
          return out;
        },
      });
    },
  };
});

describe('opening sealed credentials', () => {
  it('leaves no deciphered plaintext (data key, payload) unwiped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'creds-wipe-'));
    const path = join(dir, 'kek.key');
    ensureKekFile(path);
    const dataKeys = createLocalKekDataKeys({ path });
    const context = credentialsContext('gw-1', 'venue-a');
    const secret = 'Wipe-Me-Secret-0123456789abcdef';
    const sealed = await sealCredentials({
      dataKeys,
      context,
      apiKey: Buffer.from('api-key-1'),
      secret: Buffer.from(secret),
    });
    outputs.length = 0;

    const creds = await openCredentials({ sealed, dataKeys, context });
    expect(creds.apiKey).toBe('api-key-1');
    // The data key (32 bytes) and the payload (3 + 9 + 31 bytes) were deciphered.
    expect(outputs.map((b) => b.length).filter((n) => n > 0)).toEqual([32, 43]);
    for (const out of outputs) expect(out.every((byte) => byte === 0)).toBe(true);
  });
});
