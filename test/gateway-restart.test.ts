// Issue 13 F3: a gateway killed with SIGKILL mid-batch must not freeze the accounts it had in
// flight for the visibility timeout and the nonce leases. The killed process is a real embedded
// gateway (child) that holds every request at a chosen point (after its claim, or inside its
// complete after the exchange filled it). A new gateway on the same data directory takes the
// role lock, which proves the old one dead, and takes its deliveries and leases back at once:
// the visibility timeout here is 300 s (lease 150 s), so finishing at all shows the recovery.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedPaths, parseConfig, ReceiptEventDetail, TokenTypes } from '@countersign/contracts';
import { createSqliteNonceStore } from '@countersign/replay-guard';
import { signJwt } from '@countersign/signing';
import { createSqliteEventBus, createSqliteQueue } from '@countersign/transport';
import {
  createGatewayFromConfig,
  createPaperExchange,
  createWorker,
  silentLogger,
} from '@countersign/exchange-gateway';
import { newEs256Signer } from '@countersign/exchange-gateway/testing';
import { expectChainsIntact, until, verifiedReceipts } from './support/receipts.ts';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

const ACCOUNTS = ['acct-a', 'acct-b', 'acct-c', 'acct-d'];

describe('a gateway killed with SIGKILL mid-batch', () => {
  it('a new gateway on the same data directory finishes its messages at once, exactly once, chain intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-restart-'));
    const paths = embeddedPaths(dir);
    const requester = await newEs256Signer();
    const env = {
      COUNTERSIGN_DATA_DIR: dir,
      COUNTERSIGN_GATEWAY_ID: 'gw-restart',
      COUNTERSIGN_PARTITIONS: '2',
      COUNTERSIGN_VISIBILITY_TIMEOUT_SEC: '300',
      COUNTERSIGN_MAX_RECEIVES: '5',
      COUNTERSIGN_LOG_LEVEL: 'silent',
      COUNTERSIGN_POLICIES: JSON.stringify([
        {
          id: 'bot',
          accounts: ACCOUNTS,
          symbols: ['BTC-USD'],
          maxNotional: '1000000',
          jwks: { keys: [requester.publicJwk] },
        },
      ]),
    };
    // Two orders per account: the first of each is held by the child, the second waits
    // (received, in flight) behind it in its FIFO group.
    const queue = createSqliteQueue({
      path: paths.queueDb,
      visibilityTimeoutSec: 300,
      maxReceives: 5,
    });
    const iat = Math.floor(Date.now() / 1000);
    const messages = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const sub = ACCOUNTS[i % ACCOUNTS.length]!;
        const jti = `restart-${String(i).padStart(4, '0')}-`.padEnd(22, 'x');
        const claims = { iss: 'bot', sub, aud: 'gw-restart', iat, nbf: iat, exp: iat + 120, jti };
        const txn = {
          type: 'order',
          side: 'buy',
          symbol: 'BTC-USD',
          quantity: `0.${i + 1}`,
          limitPrice: '100',
          timeInForce: 'GTC',
        };
        const body = await signJwt(requester, { ...claims, txn }, { typ: TokenTypes.REQUEST });
        return { body, groupId: sub, dedupId: jti };
      }),
    );
    await queue.sendBatch(messages);

    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./support/gateway-hold-child.ts', import.meta.url)),
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const holds = () => out.split('\n').filter((l) => l.startsWith('hold ')).length;
    await until(() => holds() >= ACCOUNTS.length || child.exitCode !== null, 30_000, 'the holds');
    expect(child.exitCode).toBeNull();
    expect(out).toContain('hold claimed'); // some stopped right after their claim,
    expect(out).toContain('hold placed'); // others after the exchange filled them
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 8, dlq: 0 });

    const config = parseConfig({ env, part: 'gateway' });
    // While the child lives, a second gateway on this data directory is refused at once.
    await expect(createGatewayFromConfig(config, { exclusive: true })).rejects.toMatchObject({
      code: 'LOCKED',
      details: { role: 'gateway', pid: child.pid },
    });

    child.kill('SIGKILL');
    await once(child, 'exit');
    const exchange = createPaperExchange({ path: paths.exchangeDb });
    const filledBeforeKill = exchange.executions();
    expect(filledBeforeKill).toBeGreaterThan(0);

    // The new gateway: the lock is free now; starting takes back what the dead one held.
    const gw = await createGatewayFromConfig(config, { exclusive: true, logger: silentLogger });
    expect(queue.depth()).toEqual({ visible: 8, inFlight: 0, dlq: 0 });
    const nonces = createSqliteNonceStore({ path: paths.nonceDb });
    for (const m of messages) {
      const record = await nonces.get(`bot#${m.dedupId}`);
      if (record?.state === 'IN_PROGRESS')
        expect(record.leaseUntil).toBeLessThanOrEqual(Date.now());
    }
    await nonces.close();

    const receiveCounts: number[] = [];
    const worker = createWorker({
      queue: gw.queue,
      processor: {
        prefetch: (ms) => gw.processor.prefetch(ms),
        reconcileUnknown: () => gw.processor.reconcileUnknown(),
        process: (m) => {
          receiveCounts.push(m.receiveCount);
          return gw.processor.process(m);
        },
      },
      concurrency: 8,
      waitMs: 100,
      visibilityTimeoutSec: 300,
      reconcileIntervalMs: 0,
    });
    const running = worker.run();
    await until(
      () => {
        const d = queue.depth();
        return d.visible === 0 && d.inFlight === 0;
      },
      60_000,
      'the queue to drain',
    );
    await worker.stop();
    await running;
    await gw.close();

    // Each message: one receipt, EXECUTED with its own fill; each order executed once.
    const bus = createSqliteEventBus({ path: paths.busDb });
    const events: ReceiptEventDetail[] = [];
    for await (const e of bus.read({})) events.push(ReceiptEventDetail.parse(e.detail));
    await bus.close();
    const receipts = await verifiedReceipts(events, gw.signer.publicJwk, 'gw-restart');
    expect(receipts).toHaveLength(8);
    expect(receipts.every((r) => r.claims.outcome === 'EXECUTED')).toBe(true);
    expect(new Set(receipts.map((r) => r.claims.req.jti))).toEqual(
      new Set(messages.map((m) => m.dedupId)),
    );
    expect(worker.counters().received).toBe(8);
    expect(exchange.executions()).toBe(8);
    // Each came back as its second delivery: the lost one still counts toward the DLQ.
    expect(receiveCounts).toEqual(Array.from({ length: 8 }, () => 2));

    expectChainsIntact(receipts);
    await exchange.close();
    await queue.close();
  });
});
