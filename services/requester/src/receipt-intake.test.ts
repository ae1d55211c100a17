// The requester stores a receipt only after verifying it with the gateway's keys: crafted tokens
// (another key, a tampered payload, another gateway, not a receipt at all) are never stored and
// never served; receipts of other requesters are ignored.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { newJti, systemClock } from '@countersign/contracts';
import { createReceiptIntake, createReceiptVerifier } from './receipt-intake.ts';
import { createSqliteTransactionStore } from './sqlite-transaction-store.ts';
import {
  gatewayKit,
  receiptRig,
  resignedUnderSameKid,
  tamperPayload,
  type GatewayKit,
} from './testing/receipts.ts';
import type { TransactionStore } from './transaction-store.ts';

const ISS = 'bot-1';
const GATEWAY = 'gw-1';
let gateway: GatewayKit;
let otherGateway: GatewayKit;
let attacker: GatewayKit;

beforeAll(async () => {
  gateway = await gatewayKit(GATEWAY);
  otherGateway = await gatewayKit('gw-other');
  attacker = await gatewayKit(GATEWAY); // claims to be our gateway, with its own key
});

function setup() {
  const store = createSqliteTransactionStore({
    path: join(mkdtempSync(join(tmpdir(), 'intake-')), 'requester.sqlite'),
    clock: systemClock,
  });
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  // As the wiring does: the gateway's keys, bound to its id.
  const { intake, status } = receiptRig({ issuer: ISS, gateway, store, logger });
  return { store, intake, status, warnings };
}

async function order(store: TransactionStore, account = 'acct-1') {
  const o = { iss: ISS, jti: newJti(), account };
  await store.remember([o]);
  return o;
}

describe('receipt intake', () => {
  it('stores a receipt the gateway signed, and the status serves it', async () => {
    const { store, intake, status } = setup();
    const o = await order(store);
    const token = await gateway.receipt(o, { outcome: 'REJECTED', reason: 'NOTIONAL_TOO_HIGH' });
    expect(await intake.ingest([gateway.event(token)])).toEqual({
      accepted: 1,
      ignored: 0,
      rejected: 0,
    });
    expect(await status.find(o.jti, new Set(['acct-1']))).toEqual({
      jti: o.jti,
      status: 'receipted',
      outcome: 'REJECTED',
      reason: 'NOTIONAL_TOO_HIGH',
      receipt: token,
    });
  });

  it('never stores or serves a forged receipt', async () => {
    const { store, intake, status, warnings } = setup();
    const o = await order(store);
    const genuine = await gateway.receipt(o, { outcome: 'REJECTED', reason: 'SYMBOL_NOT_ALLOWED' });
    const forged = [
      // Signed by another key that claims our gateway's id (its own kid: not trusted).
      await attacker.receipt(o),
      // Signed by another key under our gateway's kid.
      await resignedUnderSameKid(await gateway.receipt(o), attacker.signer),
      // The genuine receipt with its outcome turned into EXECUTED, signature kept.
      tamperPayload(genuine, (p) => ({ ...p, outcome: 'EXECUTED', reason: undefined })),
      // A valid receipt of another gateway (its own key, its own id).
      await otherGateway.receipt(o),
      // Signed with our gateway's key, but issued as another gateway.
      await (await gatewayKit('gw-other', gateway.signer)).receipt(o),
    ];
    const result = await intake.ingest([
      ...forged.map((t) => gateway.event(t)),
      { receipt: 'not-a-jws', request: null, messageId: 'm' },
      { something: 'else' },
    ]);
    expect(result).toEqual({ accepted: 0, ignored: 0, rejected: 7 });
    expect(warnings.map((w) => (JSON.parse(w) as { reason: string }).reason)).toEqual([
      'UNKNOWN_KID',
      'BAD_SIGNATURE',
      'BAD_SIGNATURE',
      'UNKNOWN_KID',
      'ISSUER_NOT_TRUSTED',
      'not a receipt event',
      'not a receipt event',
    ]);
    expect(await store.get(o)).toMatchObject({ outcome: null, storedReceipt: null });
    expect(await status.find(o.jti, new Set(['acct-1']))).toEqual({ jti: o.jti, status: 'queued' });

    // The genuine one still gets in.
    await intake.ingest([gateway.event(genuine)]);
    expect(await status.find(o.jti, new Set(['acct-1']))).toMatchObject({
      status: 'receipted',
      outcome: 'REJECTED',
      receipt: genuine,
    });
  });

  it("ignores other requesters' receipts without storing them", async () => {
    const { store, intake } = setup();
    const theirs = { iss: 'bot-2', jti: newJti(), account: 'acct-1' };
    expect(await intake.ingest([gateway.event(await gateway.receipt(theirs))])).toEqual({
      accepted: 0,
      ignored: 1,
      rejected: 0,
    });
    expect(await store.get(theirs)).toBeUndefined();
  });

  it('a follow-up replaces an UNKNOWN receipt; a late UNKNOWN does not undo it', async () => {
    const { store, intake, status } = setup();
    const o = await order(store);
    const unknown = await gateway.receipt(o, { outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT' });
    const followUp = await gateway.receipt(o, { outcome: 'EXECUTED' });
    await intake.ingest([gateway.event(unknown)]);
    expect(await status.find(o.jti, 'any')).toMatchObject({ outcome: 'UNKNOWN' });
    await intake.ingest([gateway.event(followUp), gateway.event(unknown)]);
    expect(await status.find(o.jti, 'any')).toMatchObject({
      outcome: 'EXECUTED',
      receipt: followUp,
    });
  });

  it('throws (the batch is retried) when the keys cannot be loaded', async () => {
    const { store } = setup();
    const o = await order(store);
    const intake = createReceiptIntake({
      issuer: ISS,
      verifier: createReceiptVerifier({
        keys: { resolve: () => Promise.reject(new Error('ENOENT gateway.jwks.json')) },
        gatewayId: GATEWAY,
      }),
      store,
      logger: pino({ level: 'silent' }),
    });
    await expect(intake.ingest([gateway.event(await gateway.receipt(o))])).rejects.toMatchObject({
      code: 'KEY_UNAVAILABLE',
    });
    expect(await store.get(o)).toMatchObject({ storedReceipt: null });
  });
});

describe('a receipt planted in the store (a tampered data file or table)', () => {
  it('is not served: the status verifies it again for this very order', async () => {
    const { store, status } = setup();
    const o = await order(store);
    const other = await order(store);
    // Written straight into the store, past the intake.
    await store.putReceipts([
      {
        ...o,
        outcome: 'EXECUTED',
        receiptJti: newJti(),
        receipt: await attacker.receipt(o),
      },
      {
        // A genuine receipt, but for another order.
        ...other,
        outcome: 'EXECUTED',
        receiptJti: newJti(),
        receipt: await gateway.receipt({ ...other, jti: newJti() }),
      },
    ]);
    expect(await status.find(o.jti, 'any')).toEqual({ jti: o.jti, status: 'queued' });
    expect(await status.find(other.jti, 'any')).toEqual({ jti: other.jti, status: 'queued' });
  });
});
