// `countersign audit reconcile` end to end on real files: key files, receipts in the SQLite bus,
// orders in the paper exchange's SQLite file (placed under `clientOrderIdOf`, as the gateway
// does), and the SQLite nonce store. Each fault is planted where it would really happen.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  AuditReport,
  clientOrderIdOf,
  embeddedPaths,
  NonceKeys,
  type Clock,
  type TransactionRequest,
} from '@countersign/contracts';
import {
  createAuditFromConfig,
  createSyntheticKit,
  type EmittedReceipt,
  type SyntheticKit,
} from '@countersign/audit';
import { createPaperExchange } from '@countersign/exchange-gateway';
import { createSqliteNonceStore } from '@countersign/replay-guard';
import { createSqliteEventBus } from '@countersign/transport';
import { createAuditProgram } from './audit.ts';
import {
  auditReconcileCommand,
  openReconcileSources,
  type ReconcileCommandIO,
} from './audit-reconcile.ts';

let dir: string;
let kit: SyntheticKit;
const clock: Clock = { now: () => Date.now() };
const env = () => ({
  COUNTERSIGN_DATA_DIR: dir,
  COUNTERSIGN_GATEWAY_ID: 'gw-1',
  COUNTERSIGN_REQUESTER_ID: 'req-1',
});

function capture(over: Partial<ReconcileCommandIO> = {}) {
  const out = { stdout: '', stderr: '', files: new Map<string, string>() };
  const io: ReconcileCommandIO = {
    env: env(),
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
    createRuntime: (config) => createAuditFromConfig(config),
    writeFile: (path, data) => {
      out.files.set(path, data);
      return Promise.resolve();
    },
    openSources: openReconcileSources,
    clock,
    ...over,
  };
  return { io, out };
}

const paths = () => embeddedPaths(dir);

/**
 * `count` orders through a stand-in for the gateway: each is placed on the paper exchange under
 * its request's client order id and its EXECUTED receipt goes to the bus. `place: false` leaves
 * an order out; `fills` signs other fills than the exchange made.
 */
async function trade(
  count: number,
  options: { skipPlace?: number; receiptFills?: { index: number; quantity: string } } = {},
): Promise<EmittedReceipt[]> {
  const exchange = createPaperExchange({ path: paths().exchangeDb, clock });
  const bus = createSqliteEventBus({ path: paths().busDb });
  const nonces = createSqliteNonceStore({ path: paths().nonceDb });
  const iat = Math.floor(clock.now() / 1000) - 5;
  const emitted: EmittedReceipt[] = [];
  for (let i = 0; i < count; i++) {
    const fills =
      options.receiptFills?.index === i
        ? [{ quantity: options.receiptFills.quantity, price: '64000.10' }]
        : undefined;
    const e = await kit.gateway.emit({
      account: `acct-${i % 3}`,
      iat,
      ...(fills ? { fills } : {}),
    });
    emitted.push(e);
    if (options.skipPlace === i) continue;
    await exchange.place({
      clientOrderId: clientOrderIdOf(e.claims.req.iss!, e.claims.req.jti!),
      account: e.claims.req.sub!,
      txn: order(),
    });
  }
  await bus.publish(emitted.map((e) => e.detail));
  await Promise.all([exchange.close(), bus.close(), nonces.close()]);
  return emitted;
}

const order = (over: Partial<TransactionRequest> = {}): TransactionRequest => ({
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.015',
  limitPrice: '64000.10',
  timeInForce: 'GTC',
  ...over,
});

/** An order placed on the paper exchange directly, as no gateway would. */
async function placeDirect(clientOrderId: string, account: string, txn: TransactionRequest) {
  const exchange = createPaperExchange({ path: paths().exchangeDb, clock });
  try {
    await exchange.place({ clientOrderId, account, txn });
  } finally {
    await exchange.close();
  }
}

/** A request claimed in the nonce store `ageMs` ago with a 15 s lease, never completed. */
async function claimedAgo(key: string, ageMs: number) {
  const nonces = createSqliteNonceStore({ path: paths().nonceDb });
  await nonces.claim(key, {
    expiresAt: clock.now() + 3_600_000,
    leaseMs: 15_000,
    owner: 'gw-x',
    now: clock.now() - ageMs,
  });
  await nonces.close();
}

async function reconcileJson(io: ReconcileCommandIO, out: { stdout: string }) {
  const code = await auditReconcileCommand({ format: 'json' }, io);
  return { code, report: AuditReport.parse(JSON.parse(out.stdout)) };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cs-reconcile-cli-'));
  kit = await createSyntheticKit({
    gatewayId: 'gw-1',
    requesterId: 'req-1',
    startTime: Math.floor(Date.now() / 1000) - 100,
    policy: { version: 'v'.repeat(43), maxNotional: '1000' },
  });
  const keys = paths().keysDir;
  mkdirSync(keys, { recursive: true });
  writeFileSync(join(keys, 'gateway.jwks.json'), JSON.stringify(kit.gatewayJwks));
  writeFileSync(join(keys, 'requester.jwks.json'), JSON.stringify(kit.requesterJwks));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('countersign audit reconcile', () => {
  it('a clean demo-sized run (2,000 orders) reconciles clean: exit 0, text verdict', async () => {
    await trade(2000);
    const { io, out } = capture();
    expect(await auditReconcileCommand({}, io)).toBe(0);
    expect(out.stdout).toContain(
      'CLEAN: 2000 exchange orders, 2000 matched with their receipt, 0 in flight, 2000 receipts, 0 findings',
    );
    expect(out.stdout).not.toContain('Streams');
    expect(out.stderr).toBe('');
  }, 60_000);

  it('catches an execution without a receipt placed directly on the paper exchange: exit 3', async () => {
    await trade(5);
    const plantedId = clientOrderIdOf('req-1', 'PLANTEDplantedPLANTED0');
    await placeDirect(plantedId, 'acct-x', order({ side: 'sell', quantity: '3', limitPrice: '1' }));
    const { io, out } = capture();
    const { code, report } = await reconcileJson(io, out);
    expect(code).toBe(3);
    expect(report.summary.findingsByCode).toEqual({ EXECUTION_WITHOUT_RECEIPT: 1 });
    expect(report.findings[0]!.message).toContain(
      `order ${plantedId} of account acct-x (FILLED 3@1`,
    );
    expect(report.reconciliation).toMatchObject({ exchangeOrders: 6, matched: 5 });
  });

  it('by default reconciles up to and including this millisecond', async () => {
    await trade(1);
    // Placed in the very millisecond the command reads as now: still part of the period.
    const t = clock.now();
    const frozen: Clock = { now: () => t };
    const exchange = createPaperExchange({ path: paths().exchangeDb, clock: frozen });
    await exchange.place({ clientOrderId: 'same-ms', account: 'acct-x', txn: order() });
    await exchange.close();
    const { io, out } = capture({ clock: frozen });
    const { code, report } = await reconcileJson(io, out);
    expect(report.reconciliation).toMatchObject({ exchangeOrders: 2, matched: 1 });
    expect(report.summary.findingsByCode).toEqual({ EXECUTION_WITHOUT_RECEIPT: 1 });
    expect(code).toBe(3);
  });

  it('catches a receipt whose order was deleted from the exchange database', async () => {
    const [, second] = await trade(3);
    const id = clientOrderIdOf(second!.claims.req.iss!, second!.claims.req.jti!);
    const db = new Database(paths().exchangeDb);
    expect(db.prepare('DELETE FROM paper_orders WHERE client_order_id = ?').run(id).changes).toBe(
      1,
    );
    db.close();
    const { io, out } = capture();
    const { code, report } = await reconcileJson(io, out);
    expect(code).toBe(3);
    expect(report.findings).toEqual([
      expect.objectContaining({
        code: 'RECEIPT_WITHOUT_EXECUTION',
        stream: 'gw-1/0',
        seq: second!.claims.seq,
        jti: second!.claims.jti,
      }),
    ]);
  });

  it('catches fills that differ between the receipt and the exchange', async () => {
    const emitted = await trade(4, { receiptFills: { index: 2, quantity: '0.016' } });
    const { io, out } = capture();
    const { code, report } = await reconcileJson(io, out);
    expect(code).toBe(3);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: 'FILLS_MISMATCH', jti: emitted[2]!.claims.jti }),
    ]);
    expect(report.findings[0]!.message).toContain(
      'the receipt says fills 0.016@64000.10, the exchange 0.015@64000.10',
    );
  });

  it('catches a request left IN_PROGRESS past its lease (the order filled, no receipt)', async () => {
    const [lost] = await trade(3, { skipPlace: 0 });
    // The crash window of issue 13 F1: claimed, placed, never completed, receipt never sent.
    const { iss, jti } = { iss: 'req-1', jti: 'STUCKstuckSTUCKstuck00' };
    await claimedAgo(NonceKeys.request(iss, jti), 10 * 60_000);
    await placeDirect(
      clientOrderIdOf(iss, jti),
      'acct-1',
      order({ quantity: '0.5', limitPrice: '10' }),
    );
    const { io, out } = capture();
    const { code, report } = await reconcileJson(io, out);
    expect(code).toBe(3);
    expect(report.summary.findingsByCode).toEqual({
      EXECUTION_WITHOUT_RECEIPT: 1,
      RECEIPT_WITHOUT_EXECUTION: 1, // `lost` was never placed
      STUCK_IN_PROGRESS: 1,
    });
    expect(report.findings.find((f) => f.code === 'STUCK_IN_PROGRESS')!.message).toContain(
      `nonce key req-1#${jti} is IN_PROGRESS`,
    );
    expect(report.findings.find((f) => f.code === 'RECEIPT_WITHOUT_EXECUTION')!.jti).toBe(
      lost!.claims.jti,
    );
    expect(report.reconciliation).toMatchObject({ inProgress: 1, stuck: 1 });
  });

  it('an order whose request holds a live lease is in flight, not a finding', async () => {
    await trade(2);
    const jti = 'INFLIGHTinflightINFLIG';
    await claimedAgo(NonceKeys.request('req-1', jti), 0);
    await placeDirect(
      clientOrderIdOf('req-1', jti),
      'acct-1',
      order({ quantity: '1', limitPrice: '1' }),
    );
    const { io, out } = capture();
    const { code, report } = await reconcileJson(io, out);
    expect(code).toBe(0);
    expect(report.reconciliation).toMatchObject({ exchangeOrders: 3, matched: 2, inFlight: 1 });
  });

  it('--from/--to select the period by placement time; html and --out work', async () => {
    await trade(3);
    const { io, out } = capture();
    const before = new Date(clock.now() - 3_600_000).toISOString();
    const earlier = new Date(clock.now() - 1_800_000).toISOString();
    expect(
      await auditReconcileCommand({ from: before, to: earlier, format: 'html', out: 'r.html' }, io),
    ).toBe(0);
    expect(out.files.get('r.html')).toContain('id="reconciliation"');
    expect(out.stderr).toContain('CLEAN: 0 exchange orders');
    expect(out.stderr).toContain('report written to r.html');
  });

  it('exit 2 on bad arguments, on aws mode and on a data directory without a gateway', async () => {
    const { io, out } = capture();
    expect(await auditReconcileCommand({ from: 'yesterday', format: 'pdf' }, io)).toBe(2);
    expect(out.stderr).toContain('--from must be an ISO 8601 date');
    expect(out.stderr).toContain('--format must be one of text, json, html');
    expect(
      await auditReconcileCommand({ from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, io),
    ).toBe(2);
    expect(out.stderr).toContain('--from must be before --to');
    // No gateway ever ran here: nothing to reconcile against is an error, not a clean report.
    expect(await auditReconcileCommand({}, io)).toBe(2);
    expect(out.stderr).toMatch(/COUNTERSIGN_DATA_DIR: no nonce store at .*nonces/);
    const aws = capture({
      env: {
        ...env(),
        COUNTERSIGN_MODE: 'aws',
        COUNTERSIGN_GATEWAY_KMS_KEY_ID: 'alias/x',
        COUNTERSIGN_AUDIT_QUEUE_URL: 'http://127.0.0.1:1/queue/audit',
        AWS_REGION: 'us-east-1',
      },
    });
    expect(await auditReconcileCommand({}, aws.io)).toBe(2);
    expect(aws.out.stderr).toContain('COUNTERSIGN_MODE: audit reconcile needs the embedded mode');
  });

  it('exit 1 when it cannot run (trusted keys missing)', async () => {
    await trade(1);
    rmSync(paths().keysDir, { recursive: true });
    const { io, out } = capture();
    expect(await auditReconcileCommand({}, io)).toBe(1);
    expect(out.stderr).toMatch(/countersign audit: KEY_UNAVAILABLE: /);
  });

  it('is registered as `audit reconcile`', async () => {
    await trade(2);
    const { io, out } = capture();
    const program = createAuditProgram(io);
    await program.parseAsync(['audit', 'reconcile', '--format', 'json'], { from: 'user' });
    expect(process.exitCode).toBe(0);
    process.exitCode = undefined;
    expect(AuditReport.parse(JSON.parse(out.stdout)).reconciliation?.matched).toBe(2);
  });
});
