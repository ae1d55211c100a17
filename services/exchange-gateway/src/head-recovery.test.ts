// rebuildCompletedRecords: which archived receipts become which COMPLETED nonce records after a
// lost nonce store, and which are never trusted (forged, out of retention, fields not signed).
import { describe, expect, it } from 'vitest';
import { GENESIS_PREV, type ReceiptClaims } from '@countersign/contracts';
import type { EventArchive } from '@countersign/transport';
import { rebuildCompletedRecords } from './head-recovery.ts';
import { sha256B64u } from './receipts.ts';

const NOW = 1_800_000_000_000;
const DAY_MS = 86_400_000;

function receipt(seq: number, over: Partial<ReceiptClaims> = {}): ReceiptClaims {
  return {
    v: 1,
    iss: 'gw',
    iat: NOW / 1000 - 60,
    jti: `r${seq}`,
    req: { jti: `j${seq}`, iss: 'req', sub: 'acct', sha256: sha256B64u(`request.${seq}.sig`) },
    messageId: `m${seq}`,
    outcome: 'EXECUTED',
    fills: [],
    stream: 'gw/0',
    seq,
    prev: GENESIS_PREV,
    ...over,
  };
}

/** An archive of (token, claims, event fields); verifyReceipt trusts only `signed` tokens. */
function setup(
  rows: { claims: ReceiptClaims; signed?: boolean; request?: string | null; messageId?: string }[],
) {
  const trusted = new Map<string, ReceiptClaims>();
  const events = rows.map((r, i) => {
    const token = `h.receipt${i}.sig`;
    if (r.signed !== false) trusted.set(token, r.claims);
    return {
      id: String(i + 1),
      time: NOW,
      detail: {
        receipt: token,
        request: r.request === undefined ? `request.${r.claims.seq}.sig` : r.request,
        messageId: r.messageId ?? r.claims.messageId,
      },
    };
  });
  const archive = {
    read: async function* () {
      for (const e of events) yield await Promise.resolve(e);
    },
  } as unknown as Pick<EventArchive, 'read'>;
  const verifyReceipt = (token: string) => {
    const claims = trusted.get(token);
    return claims ? Promise.resolve(claims) : Promise.reject(new Error('bad signature'));
  };
  return rebuildCompletedRecords({ archive, verifyReceipt, now: NOW, retentionMs: DAY_MS });
}

const keys = (records: { key: string }[]) => records.map((r) => r.key).sort();

describe('rebuildCompletedRecords', () => {
  it('keys a receipt by msg#<messageId> and iss#jti, with the request hash and the retention', async () => {
    const records = await setup([{ claims: receipt(1) }]);
    expect(keys(records)).toEqual(['msg#m1', 'req#j1']);
    const request = records.find((r) => r.key === 'req#j1')!;
    expect(request).toMatchObject({
      stored: { request: 'request.1.sig', messageId: 'm1' },
      requestSha256: sha256B64u('request.1.sig'),
      expiresAt: NOW - 60_000 + DAY_MS,
    });
  });

  it('a REPLAYED refusal answers its message only, never the request it copies', async () => {
    const replayed = receipt(2, { outcome: 'REJECTED', reason: 'REPLAYED', req: receipt(1).req });
    const records = await setup([{ claims: receipt(1) }, { claims: replayed, request: null }]);
    expect(keys(records)).toEqual(['msg#m1', 'msg#m2', 'req#j1']);
    expect(records.find((r) => r.key === 'req#j1')!.stored.messageId).toBe('m1');
  });

  it('an unattributed refusal answers its message only', async () => {
    const unattributed = receipt(1, {
      outcome: 'REJECTED',
      reason: 'EXPIRED',
      req: { jti: null, iss: null, sub: null, sha256: sha256B64u('request.1.sig') },
    });
    expect(keys(await setup([{ claims: unattributed }]))).toEqual(['msg#m1']);
  });

  it('the newest receipt for a key wins (an UNKNOWN, then its resolution)', async () => {
    const unknown = receipt(1, { outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT' });
    const resolution = receipt(2, { req: unknown.req, messageId: 'm1', resolves: 'r1' });
    const records = await setup([
      { claims: resolution, request: 'request.1.sig' },
      { claims: unknown },
    ]);
    expect(records.map((r) => [r.key, r.seq]).sort()).toEqual([
      ['msg#m1', 2],
      ['req#j1', 2],
    ]);
  });

  it('across streams the later receipt wins, whatever the seqs (another gateway answered last)', async () => {
    const unknown = receipt(900, { outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT' });
    const resolution = receipt(2, {
      req: unknown.req,
      messageId: 'm900',
      resolves: 'r900',
      stream: 'gw-b/0',
      iat: unknown.iat + 30,
    });
    const records = await setup([
      { claims: unknown },
      { claims: resolution, request: 'request.900.sig' },
    ]);
    expect(records.map((r) => [r.key, r.stream, r.seq]).sort()).toEqual([
      ['msg#m900', 'gw-b/0', 2],
      ['req#j900', 'gw-b/0', 2],
    ]);
  });

  it('trusts no forged receipt, none past the retention, no event field the receipt does not sign', async () => {
    const records = await setup([
      { claims: receipt(1), signed: false },
      { claims: receipt(2, { iat: (NOW - 2 * DAY_MS) / 1000 }) },
      { claims: receipt(3), messageId: 'other' },
      { claims: receipt(4), request: 'another.request.sig' },
    ]);
    expect(records).toEqual([]);
  });
});
