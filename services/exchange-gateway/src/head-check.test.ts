// Issue 13 F4 on the real embedded adapters: a gateway whose nonce store lost its chain heads
// refuses to start (instead of signing seq 1 again), `recover-head` restores the heads from the
// newest checkpoint and the archive, refuses when they disagree, and the chain then goes on.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  NonceKeys,
  ReceiptEventDetail,
  TokenTypes,
  embeddedPaths,
  receiptChainHash,
  parseConfig,
  type CountersignConfig,
} from '@countersign/contracts';
import { signJwt, type Signer } from '@countersign/signing';
import { createSqliteEventBus, type ReceivedMessage } from '@countersign/transport';
import { decodeUnverified } from '@countersign/verifier';
import { readOwnReceipt } from './receipts.ts';
import { recoverHeadsFromConfig } from './head-recovery.ts';
import { silentLogger, type Logger } from './ports.ts';
import { delivery, newEs256Signer, orderToken } from './testing/index.ts';
import { createGatewayFromConfig, type Gateway } from './wiring.ts';

const GW = 'gw-f4';

function config(dir: string, requester: Signer): CountersignConfig {
  return parseConfig({
    env: {
      COUNTERSIGN_DATA_DIR: dir,
      COUNTERSIGN_GATEWAY_ID: GW,
      COUNTERSIGN_CHECKPOINT_EVERY: '5',
      COUNTERSIGN_CHECKPOINT_INTERVAL_SEC: '3600',
      COUNTERSIGN_POLICIES: JSON.stringify([
        {
          id: 'req-f4',
          accounts: ['acct-1'],
          symbols: ['BTC-USD'],
          maxNotional: '100000',
          jwks: { keys: [requester.publicJwk] },
        },
      ]),
    },
    part: 'gateway',
  });
}

async function send(gw: Gateway, requester: Signer, n: number): Promise<ReceivedMessage[]> {
  const sent: ReceivedMessage[] = [];
  for (let i = 0; i < n; i++) {
    const token = await orderToken(requester, { iss: 'req-f4', sub: 'acct-1', aud: GW });
    const message = delivery(token, 'acct-1');
    expect((await gw.processor.process(message)).action).toBe('delete');
    sent.push(message);
  }
  return sent;
}

/** (seq, prev) of every receipt in the archive, in archive order. */
async function archived(dir: string): Promise<{ seq: number; prev: string; id: string }[]> {
  const bus = createSqliteEventBus({ path: embeddedPaths(dir).busDb });
  const out: { seq: number; prev: string; id: string }[] = [];
  for await (const e of bus.read({})) {
    const claims = readOwnReceipt(ReceiptEventDetail.parse(e.detail).receipt);
    out.push({ seq: claims.seq, prev: claims.prev, id: e.id });
  }
  await bus.close();
  return out;
}

/** The first receipt event of the archive. */
async function firstDetail(dir: string): Promise<ReceiptEventDetail> {
  const bus = createSqliteEventBus({ path: embeddedPaths(dir).busDb });
  try {
    for await (const e of bus.read({})) return ReceiptEventDetail.parse(e.detail);
    throw new Error('empty archive');
  } finally {
    await bus.close();
  }
}

/** A gateway that dies after its receipts: its final checkpoint is never written. */
async function crash(gw: Gateway): Promise<void> {
  await gw.nonceStore.close?.();
  await gw.bus.close?.();
  await gw.queue.close?.();
  await gw.exchange.close?.();
}

/** Collects warnings, except the start-up line about the requester key file these tests lack. */
function warningsInto(warnings: string[]): Logger {
  const warn = (_o: object, m?: string) => {
    if (!m?.startsWith('no requester key trusted yet')) warnings.push(m ?? '');
  };
  return { ...silentLogger, warn };
}

function loseNonceStore(dir: string): void {
  const db = embeddedPaths(dir).nonceDb;
  for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
}

describe('chain heads against the newest checkpoint (issue 13 F4)', () => {
  it('refuses to start on an emptied nonce store; recover-head restores the head; the chain goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-f4-'));
    const requester = await newEs256Signer();
    const cfg = config(dir, requester);
    const first = await createGatewayFromConfig(cfg, { logger: silentLogger });
    await send(first, requester, 12); // checkpoints at 5 and 10; 11 and 12 after the newest
    await crash(first);
    loseNonceStore(dir);

    const refused = createGatewayFromConfig(cfg, { logger: silentLogger });
    await expect(refused).rejects.toMatchObject({
      code: 'CHAIN_HEAD_MISMATCH',
      message: expect.stringContaining(
        `the chain head of ${GW}/0 is at seq 0 but its newest signed checkpoint (#2`,
      ),
    });
    await expect(refused).rejects.toThrow(/countersign gateway recover-head/);

    const dry = await recoverHeadsFromConfig(cfg, { apply: false });
    expect(dry.restored).toBe(0);
    expect(dry.plan).toEqual([
      expect.objectContaining({
        stream: `${GW}/0`,
        status: 'restore',
        restore: expect.objectContaining({ seq: 12 }),
        message: 'restore seq 12 (checkpoint #2 at seq 10, then 2 archived receipts)',
      }),
    ]);
    await expect(createGatewayFromConfig(cfg, { logger: silentLogger })).rejects.toMatchObject({
      code: 'CHAIN_HEAD_MISMATCH',
    });
    expect((await recoverHeadsFromConfig(cfg, { apply: true })).restored).toBe(1);

    const warnings: string[] = [];
    const logger = warningsInto(warnings);
    const second = await createGatewayFromConfig(cfg, { logger });
    await send(second, requester, 1);
    await second.close();
    expect(warnings).toEqual([]); // the exchange still knows its orders
    const receipts = await archived(dir);
    expect(receipts.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start on a nonce store rolled back to a copy taken after the newest checkpoint; recover-head restores the head', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-f4-'));
    const requester = await newEs256Signer();
    const cfg = config(dir, requester);
    const first = await createGatewayFromConfig(cfg, { logger: silentLogger });
    await send(first, requester, 10); // checkpoints at 5 and 10
    const db = embeddedPaths(dir).nonceDb;
    // A backup of the live store, its head at the newest checkpoint.
    const reader = new Database(db, { readonly: true });
    await reader.backup(`${db}.copy`);
    reader.close();
    await send(first, requester, 2); // 11 and 12, after the newest checkpoint
    await crash(first);
    loseNonceStore(dir);
    copyFileSync(`${db}.copy`, db);

    // Head 10 = checkpoint #2 at seq 10, but the archive holds 11 and 12: starting would sign a
    // second receipt 11.
    await expect(createGatewayFromConfig(cfg, { logger: silentLogger })).rejects.toMatchObject({
      code: 'CHAIN_HEAD_MISMATCH',
      message: expect.stringContaining(
        `the chain head of ${GW}/0 is at seq 10 but the archive already holds its signed receipt 12`,
      ),
    });
    const dry = await recoverHeadsFromConfig(cfg, { apply: false });
    expect(dry.plan).toEqual([
      expect.objectContaining({
        status: 'restore',
        restore: expect.objectContaining({ seq: 12 }),
        message: 'restore seq 12 (checkpoint #2 at seq 10, then 2 archived receipts)',
      }),
    ]);
    expect((await recoverHeadsFromConfig(cfg, { apply: true })).restored).toBe(1);
    const third = await createGatewayFromConfig(cfg, { logger: silentLogger });
    await send(third, requester, 1);
    await third.close();
    const receipts = await archived(dir);
    expect(receipts.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a receipt past the head that does not verify (not signed by the gateway) does not stop the start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-f4-'));
    const requester = await newEs256Signer();
    const cfg = config(dir, requester);
    const first = await createGatewayFromConfig(cfg, { logger: silentLogger });
    await send(first, requester, 1);
    await crash(first);
    const detail = await firstDetail(dir);
    const claims = readOwnReceipt(detail.receipt);
    const forged = await signJwt(
      await newEs256Signer(),
      { ...claims, seq: 2, prev: receiptChainHash(detail.receipt) },
      { typ: TokenTypes.RECEIPT },
    );
    const bus = createSqliteEventBus({ path: embeddedPaths(dir).busDb });
    await bus.publish([{ ...detail, receipt: forged }]);
    await bus.close();
    const second = await createGatewayFromConfig(cfg, { logger: silentLogger });
    await second.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('recover-head rebuilds the lost nonce records: a redelivered message is answered by its stored receipt, never executed again, also after its token expired', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-f4-'));
    const requester = await newEs256Signer();
    const cfg = config(dir, requester);
    const first = await createGatewayFromConfig(cfg, { logger: silentLogger });
    // Published but never deleted (a kill -9 between publish and delete): all still queued.
    const queued = await send(first, requester, 7);
    await crash(first);
    loseNonceStore(dir);
    const result = await recoverHeadsFromConfig(cfg, { apply: true });
    expect(result).toMatchObject({ restored: 1, records: 14, recordsRestored: 14 });
    // Applying again writes nothing: the records are there (never overwritten).
    expect((await recoverHeadsFromConfig(cfg, { apply: true })).recordsRestored).toBe(0);

    // Three redeliveries while their tokens live, four after they expired (token lifetime 60 s).
    let offsetMs = 0;
    const clock = { now: () => Date.now() + offsetMs };
    const second = await createGatewayFromConfig(cfg, { logger: silentLogger, clock });
    const again = (m: ReceivedMessage) => second.processor.process({ ...m, receiveCount: 2 });
    for (const m of queued.slice(0, 3)) expect((await again(m)).action).toBe('delete');
    offsetMs = 10 * 60_000;
    for (const m of queued.slice(3)) expect((await again(m)).action).toBe('delete');
    await second.close();

    const receipts = await archived(dir);
    // 7 receipts and 7 republished copies of them; no second answer, seq 1..7 only.
    expect(receipts).toHaveLength(14);
    expect([...new Set(receipts.map((r) => r.seq))].sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7,
    ]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to restore when the archive disagrees with the checkpoint, and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-f4-'));
    const requester = await newEs256Signer();
    const cfg = config(dir, requester);
    const first = await createGatewayFromConfig(cfg, { logger: silentLogger });
    await send(first, requester, 13);
    await crash(first);
    loseNonceStore(dir);
    // Receipt 12 is gone from the archive: 13 sits after a gap, no single head to restore.
    const twelve = (await archived(dir)).find((r) => r.seq === 12)!;
    const bus = new Database(embeddedPaths(dir).busDb);
    bus.prepare('DELETE FROM bus_events WHERE id = ?').run(Number(twelve.id));
    bus.close();
    const plan = await recoverHeadsFromConfig(cfg, { apply: false });
    expect(plan.plan[0]).toMatchObject({
      status: 'refused',
      message: 'the archive has receipts after a gap at seq 12 (up to 13)',
    });
    await expect(recoverHeadsFromConfig(cfg, { apply: true })).rejects.toMatchObject({
      code: 'CHAIN_HEAD_MISMATCH',
    });
    await expect(createGatewayFromConfig(cfg, { logger: silentLogger })).rejects.toMatchObject({
      code: 'CHAIN_HEAD_MISMATCH',
    });
    rmSync(dir, { recursive: true, force: true });
  });

  it('warns, and starts, when the exchange database is empty but the chain is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-f4-'));
    const requester = await newEs256Signer();
    const cfg = config(dir, requester);
    const first = await createGatewayFromConfig(cfg, { logger: silentLogger });
    await send(first, requester, 3);
    await first.close();
    const db = embeddedPaths(dir).exchangeDb;
    for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    const warnings: string[] = [];
    const logger = warningsInto(warnings);
    const second = await createGatewayFromConfig(cfg, { logger });
    await second.close();
    expect(warnings).toEqual([expect.stringContaining('the exchange database holds no order')]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('recover-head --apply refuses while a gateway runs on the data directory: a live claim is never replaced', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-f4-'));
    const requester = await newEs256Signer();
    const cfg = config(dir, requester);
    const first = await createGatewayFromConfig(cfg, { logger: silentLogger });
    const [m1] = await send(first, requester, 3);
    await crash(first);
    // The records are lost, the heads are not (so a gateway starts), and m1 comes back.
    const nonces = new Database(embeddedPaths(dir).nonceDb);
    nonces.exec('DELETE FROM nonces');
    nonces.close();
    const live = await createGatewayFromConfig(cfg, { logger: silentLogger, exclusive: true });
    const key = NonceKeys.request('req-f4', String(decodeUnverified(m1!.body)?.jti));
    const now = Date.now();
    // The live gateway holds m1's request, executing it (its receipt comes with its complete).
    const claim = { owner: live.owner, leaseMs: 60_000, now, expiresAt: now + 600_000 };
    expect(await live.nonceStore.claim(key, claim)).toMatchObject({ claimed: true });

    await expect(recoverHeadsFromConfig(cfg, { apply: true })).rejects.toMatchObject({
      code: 'LOCKED',
    });
    expect(await live.nonceStore.get(key)).toMatchObject({
      state: 'IN_PROGRESS',
      owner: live.owner,
    });
    // The dry run still reads beside it.
    expect((await recoverHeadsFromConfig(cfg, { apply: false })).records).toBe(6);
    await live.close();
    expect((await recoverHeadsFromConfig(cfg, { apply: true })).recordsRestored).toBe(6);
    rmSync(dir, { recursive: true, force: true });
  });
});
