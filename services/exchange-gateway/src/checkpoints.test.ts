import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenTypes } from '@countersign/contracts';
import { createVerifier, staticKeys } from '@countersign/verifier';
import {
  checkpointFileName,
  createCheckpointer,
  createFileCheckpointStore,
} from './checkpoints.ts';
import { fakeClock, newEs256Signer } from './testing/index.ts';

const head = (seq: number) => ({ stream: 'gw/3', seq, hash: String(seq).padStart(43, 'A') });

describe('checkpoints', () => {
  it('signs one every N receipts and on flush, stored atomically per stream, never backwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-'));
    const signer = await newEs256Signer();
    const clock = fakeClock();
    const store = createFileCheckpointStore(dir);
    const cp = createCheckpointer({ gatewayId: 'gw', signer, store, every: 3, clock });
    const verifier = createVerifier({
      keys: staticKeys({ keys: [signer.publicJwk] }),
      issuers: ['gw'],
      audience: null,
      typ: TokenTypes.CHECKPOINT,
      clock,
    });
    for (let seq = 1; seq <= 4; seq += 1) await cp.noteAppended(head(seq));
    expect(checkpointFileName('gw/3')).toBe('gw_3.jws');
    let claims = (await verifier.verify(readFileSync(join(dir, 'gw_3.jws'), 'utf8'))).claims;
    expect(claims).toMatchObject({ iss: 'gw', stream: 'gw/3', seq: 3, head: head(3).hash });
    await cp.flush();
    claims = (await verifier.verify((await store.get('gw/3'))!)).claims;
    expect(claims.seq).toBe(4);
    await store.put('gw/3', 2, 'older.token.value');
    expect((await verifier.verify((await store.get('gw/3'))!)).claims.seq).toBe(4);
    expect(readdirSync(dir)).toEqual(['gw_3.jws']); // no temp files left behind
  });
});
