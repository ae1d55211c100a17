import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  CHECKPOINT_MIRROR_FILE,
  GENESIS_PREV,
  TokenTypes,
  sha256B64u,
  type CheckpointClaims,
} from '@countersign/contracts';
import { createVerifier, staticKeys } from '@countersign/verifier';
import { createSqliteCheckpointLog } from './checkpoint-log.ts';
import { createCheckpointer, type CheckpointTimer } from './checkpoints.ts';
import { silentLogger } from './ports.ts';
import { fakeClock, newEs256Signer } from './testing/index.ts';

const head = (seq: number, stream = 'gw/3') => ({
  stream,
  seq,
  hash: String(seq).padStart(43, 'A'),
});

/** A timer the test fires by hand. */
function manualTimer(): CheckpointTimer & { fire(): void; running(): boolean } {
  let tick: (() => void) | undefined;
  return {
    every(_ms, fn) {
      tick = fn;
      return () => void (tick = undefined);
    },
    fire: () => tick?.(),
    running: () => tick !== undefined,
  };
}

async function setup(
  options: {
    every?: number;
    mirror?: boolean;
    afterLogAppend?: (stream: string, index: number) => void;
  } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'cp-'));
  const signer = await newEs256Signer();
  const clock = fakeClock();
  const mirror = options.mirror ? join(dir, 'mirror') : undefined;
  const store = createSqliteCheckpointLog({
    path: join(dir, 'checkpoints', 'checkpoints.sqlite'),
    ...(mirror ? { mirror } : {}),
    ...(options.afterLogAppend ? { afterLogAppend: options.afterLogAppend } : {}),
  });
  const timer = manualTimer();
  const make = () =>
    createCheckpointer({
      gatewayId: 'gw',
      signer,
      store,
      every: options.every ?? 3,
      intervalMs: 5000,
      clock,
      timer,
    });
  const verifier = createVerifier({
    keys: staticKeys({ keys: [signer.publicJwk] }),
    issuers: ['gw'],
    audience: null,
    typ: TokenTypes.CHECKPOINT,
    clock,
  });
  /** Every checkpoint of the stream, oldest first, verified. */
  const chain = async (stream = 'gw/3'): Promise<{ token: string; claims: CheckpointClaims }[]> => {
    const stored = [...(await store.recent(stream, 1000))].reverse();
    return Promise.all(
      stored.map(async (s) => ({
        token: s.token,
        claims: (await verifier.verify(s.token)).claims,
      })),
    );
  };
  return { dir, signer, clock, store, timer, make, chain, mirror };
}

describe('checkpointer', () => {
  it('signs every N receipts and chains the checkpoints by index and hash', async () => {
    const t = await setup();
    const cp = t.make();
    for (let seq = 1; seq <= 7; seq += 1) await cp.noteAppended(head(seq));
    const chain = await t.chain();
    expect(chain.map((c) => [c.claims.index, c.claims.seq])).toEqual([
      [1, 3],
      [2, 6],
    ]);
    expect(chain[0]!.claims).toMatchObject({ iss: 'gw', stream: 'gw/3', head: head(3).hash });
    expect(chain[0]!.claims.prevCheckpoint).toBe(GENESIS_PREV);
    expect(chain[1]!.claims.prevCheckpoint).toBe(sha256B64u(chain[0]!.token));
    await cp.close(); // graceful stop: the last receipt is covered
    expect((await t.chain()).map((c) => c.claims.seq)).toEqual([3, 6, 7]);
    expect(t.timer.running()).toBe(false);
  });

  it('bounds the unprotected tail by time: the timer and activity after the interval', async () => {
    const t = await setup({ every: 1000 });
    const cp = t.make();
    await cp.noteAppended(head(1));
    await cp.noteAppended(head(2));
    expect(await t.chain()).toEqual([]); // neither 1000 receipts nor 5 s yet
    t.timer.fire(); // the interval timer: every moved stream gets a checkpoint
    await cp.flush(); // waits for the writes the tick started (same per-stream queue)
    expect((await t.chain()).map((c) => c.claims.seq)).toEqual([2]);
    t.clock.advance(5000);
    await cp.noteAppended(head(3)); // a frozen Lambda has no timer: activity checks the time
    expect((await t.chain()).map((c) => c.claims.seq)).toEqual([2, 3]);
    t.timer.fire();
    await cp.flush();
    expect((await t.chain()).map((c) => c.claims.seq)).toEqual([2, 3]); // nothing moved
  });

  it('two writers on one stream: the loser re-signs on top, never backwards, one chain', async () => {
    const t = await setup();
    const a = t.make();
    const b = t.make();
    await a.writeNow(head(5));
    await b.writeNow(head(8)); // b reads the log first: index 2, on top of a's
    await a.writeNow(head(6)); // a's cached link is stale: lost race, re-read, 8 covers 6
    await a.writeNow(head(9));
    const chain = await t.chain();
    expect(chain.map((c) => [c.claims.index, c.claims.seq])).toEqual([
      [1, 5],
      [2, 8],
      [3, 9],
    ]);
    for (let i = 1; i < chain.length; i += 1) {
      expect(chain[i]!.claims.prevCheckpoint).toBe(sha256B64u(chain[i - 1]!.token));
    }
  });

  it('a writer that keeps losing the index gives up with CHAIN_CONFLICT, logged, not thrown', async () => {
    const t = await setup();
    const warned: { err?: unknown; stream?: string }[] = [];
    const cp = createCheckpointer({
      gatewayId: 'gw',
      signer: t.signer,
      // Another writer wins every index.
      store: { ...t.store, append: () => Promise.resolve(false) },
      every: 3,
      clock: t.clock,
      timer: t.timer,
      logger: { ...silentLogger, warn: (obj) => void warned.push(obj) },
    });
    await cp.writeNow(head(4));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.err).toMatchObject({
      code: 'CHAIN_CONFLICT',
      details: { stream: 'gw/3', index: 1, races: 6 },
    });
  });

  it('the log refuses updates and deletes; the mirror gets every appended token, fsynced', async () => {
    const t = await setup({ mirror: true });
    const cp = t.make();
    for (let seq = 1; seq <= 6; seq += 1) await cp.noteAppended(head(seq, `gw/${seq % 2}`));
    await cp.close();
    await t.store.close();
    const db = new Database(join(t.dir, 'checkpoints', 'checkpoints.sqlite'));
    expect(() => db.prepare('DELETE FROM checkpoints').run()).toThrow(/append-only/);
    expect(() => db.prepare("UPDATE checkpoints SET token = 'x'").run()).toThrow(/append-only/);
    const logged = db.prepare('SELECT token FROM checkpoints ORDER BY stream, idx').all();
    db.close();
    const mirrored = readFileSync(join(t.mirror!, CHECKPOINT_MIRROR_FILE), 'utf8')
      .trim()
      .split('\n');
    expect(mirrored.sort()).toEqual(logged.map((r) => (r as { token: string }).token).sort());
    expect(mirrored).toHaveLength(4); // gw/1 at 3 then 5 (stop), gw/0 at 4 then 6 (stop)
  });

  it('a kill between the log and the mirror: the next start fills the gap from the log', async () => {
    let killed = false;
    const t = await setup({
      mirror: true,
      // The process "dies" after the log's append of the second checkpoint, before the mirror's.
      afterLogAppend: (_stream, index) => {
        if (index === 2 && !killed) {
          killed = true;
          throw new Error('killed');
        }
      },
    });
    const cp = t.make();
    for (let seq = 1; seq <= 6; seq += 1) await cp.noteAppended(head(seq));
    expect(killed).toBe(true);
    const logged = (await t.chain()).map((c) => c.token);
    await t.store.close();
    const mirrorFile = join(t.mirror!, CHECKPOINT_MIRROR_FILE);
    expect(logged).toHaveLength(2);
    const lines = () => readFileSync(mirrorFile, 'utf8').split('\n').filter(Boolean);
    expect(lines()).toEqual([logged[0]]); // the gap the kill left
    // A crash mid-append also tore the mirror's last line.
    appendFileSync(mirrorFile, logged[1]!.slice(0, 20));

    const warned: object[] = [];
    const logger = { ...silentLogger, warn: (o: object) => void warned.push(o) };
    const restarted = createSqliteCheckpointLog({
      path: join(t.dir, 'checkpoints', 'checkpoints.sqlite'),
      mirror: t.mirror!,
      logger,
    });
    await restarted.close();
    // Every log token on a line of its own, once; the torn fragment stays, not a token.
    expect(lines()).toEqual([logged[0], logged[1]!.slice(0, 20), logged[1]]);
    expect(warned).toEqual([expect.objectContaining({ filled: 1 })]);
    // A start with nothing missing appends nothing.
    await createSqliteCheckpointLog({
      path: join(t.dir, 'checkpoints', 'checkpoints.sqlite'),
      mirror: t.mirror!,
    }).close();
    expect(lines()).toHaveLength(3);
  });

  it('a failing store does not fail the receipt: the next checkpoint covers it', async () => {
    const t = await setup({ every: 1 });
    let fail = true;
    const flaky = {
      ...t.store,
      append: (stream: string, c: { index: number; token: string }) =>
        fail ? Promise.reject(new Error('disk full')) : t.store.append(stream, c),
    };
    const warnings: string[] = [];
    const cp = createCheckpointer({
      gatewayId: 'gw',
      signer: t.signer,
      store: flaky,
      every: 1,
      clock: t.clock,
      timer: t.timer,
      logger: {
        debug: () => undefined,
        info: () => undefined,
        warn: (_o, m) => void warnings.push(m ?? ''),
        error: () => undefined,
      },
    });
    await cp.noteAppended(head(1));
    expect(warnings).toEqual(['checkpoint not written']);
    fail = false;
    await cp.noteAppended(head(2));
    expect((await t.chain()).map((c) => [c.claims.index, c.claims.seq])).toEqual([[1, 2]]);
  });
});
