// The status lookup: scoping (another account's order looks unknown), and waiting for the receipt
// without spinning: woken by this process's intake, or by re-reading the store (receipts stored
// by another process). The waits here are long on purpose: a wake-up that did not happen would
// run into the test timeout instead of passing by luck.
import { beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { newJti } from '@countersign/contracts';
import { gatewayKit, receiptRig, type GatewayKit } from './testing/receipts.ts';
import { createMemoryTransactionStore } from './transaction-store.ts';

const ISS = 'bot-1';
let gateway: GatewayKit;
beforeAll(async () => {
  gateway = await gatewayKit('gw-1');
});

function setup(pollMs: number) {
  const store = createMemoryTransactionStore();
  const logger = pino({ level: 'silent' });
  const { status, intake, signals } = receiptRig({ issuer: ISS, gateway, store, logger, pollMs });
  return { store, status, intake, signals };
}

const acct1 = new Set(['acct-1']);

describe('transaction status', () => {
  it("answers an unknown jti and another account's order alike: null", async () => {
    const { store, status } = setup(1000);
    const o = { iss: ISS, jti: newJti(), account: 'acct-2' };
    await store.remember([o]);
    expect(await status.find(o.jti, acct1)).toBeNull();
    expect(await status.find(newJti(), acct1)).toBeNull();
    // Even while waiting: neither is held open.
    expect(await status.find(o.jti, acct1, { waitMs: 60_000 })).toBeNull();
    expect(await status.find(o.jti, new Set(['acct-2']))).toEqual({ jti: o.jti, status: 'queued' });
    expect(await status.find(o.jti, 'any')).toEqual({ jti: o.jti, status: 'queued' });
  });

  it('a waiting lookup wakes when this process stores the receipt', async () => {
    const { store, status, intake, signals } = setup(3_600_000); // no re-read in this test
    const o = { iss: ISS, jti: newJti(), account: 'acct-1' };
    await store.remember([o]);
    const waiting = status.find(o.jti, acct1, { waitMs: 3_600_000 });
    await new Promise((r) => setImmediate(r));
    expect(signals.waiting).toBe(1);
    const token = await gateway.receipt(o);
    await intake.ingest([gateway.event(token)]);
    expect(await waiting).toEqual({
      jti: o.jti,
      status: 'receipted',
      outcome: 'EXECUTED',
      receipt: token,
    });
    expect(signals.waiting).toBe(0);
  });

  it('a waiting lookup finds a receipt another process stored (periodic re-read)', async () => {
    const { store, status } = setup(20);
    const o = { iss: ISS, jti: newJti(), account: 'acct-1' };
    await store.remember([o]);
    const waiting = status.find(o.jti, acct1, { waitMs: 3_600_000 });
    const token = await gateway.receipt(o, { outcome: 'FAILED', reason: 'EXCHANGE_REJECTED' });
    // Stored without a signal, as the receipts Lambda or another requester would.
    await store.putReceipts([{ ...o, outcome: 'FAILED', receiptJti: newJti(), receipt: token }]);
    expect(await waiting).toMatchObject({ status: 'receipted', outcome: 'FAILED', receipt: token });
  });

  it('answers queued when the wait is over, or when the caller goes away', async () => {
    const { store, status, signals } = setup(10);
    const o = { iss: ISS, jti: newJti(), account: 'acct-1' };
    await store.remember([o]);
    expect(await status.find(o.jti, acct1, { waitMs: 30 })).toEqual({
      jti: o.jti,
      status: 'queued',
    });
    const gone = new AbortController();
    const waiting = status.find(o.jti, acct1, { waitMs: 3_600_000, signal: gone.signal });
    await new Promise((r) => setImmediate(r));
    gone.abort();
    expect(await waiting).toEqual({ jti: o.jti, status: 'queued' });
    expect(signals.waiting).toBe(0);
  });
});
