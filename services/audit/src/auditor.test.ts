// Auditor unit tests with real tokens signed by local keys and verified by @countersign/verifier.
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync } from 'node:crypto';
import {
  AuditReport,
  type AuditSource,
  type Clock,
  type FindingCode,
  type ReceiptClaims,
  type ReceiptEventDetail,
} from '@countersign/contracts';
import { createLocalSigner, signJwt, type Signer } from '@countersign/signing';
import { staticKeys } from '@countersign/verifier';
import { createAuditor, type AuditorOptions } from './auditor.ts';
import { createSyntheticKit, type EmittedReceipt, type SyntheticKit } from './synthetic-gateway.ts';
import { createAuditVerifiers } from './verifiers.ts';

const START = 1_780_000_000;
const clock: Clock = { now: () => (START + 10_000) * 1000 };
const SOURCE: AuditSource = { kind: 'events', from: null, to: null, gateway: null };
const POLICY = { version: 'p'.repeat(43), maxNotional: '100000' };

let kit: SyntheticKit;
let stranger: Signer;

beforeAll(async () => {
  stranger = await createLocalSigner({
    privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    alg: 'ES256',
  });
});

async function freshKit(): Promise<SyntheticKit> {
  kit = await createSyntheticKit({
    gatewayId: 'gw-1',
    requesterId: 'req-1',
    startTime: START,
    policy: POLICY,
  });
  return kit;
}

function auditorFor(k: SyntheticKit, extra: Partial<AuditorOptions> = {}) {
  return createAuditor({
    verifiers: createAuditVerifiers({
      gatewayKeys: staticKeys(k.gatewayJwks),
      requesterKeys: staticKeys(k.requesterJwks),
      gateways: ['gw-1'],
      requesters: ['req-1'],
      clock,
    }),
    clockSkewSec: 30,
    clock,
    ...extra,
  });
}

async function emitMany(k: SyntheticKit, n: number): Promise<EmittedReceipt[]> {
  const out: EmittedReceipt[] = [];
  for (let i = 0; i < n; i++) {
    const outcome = i % 5 === 3 ? 'REJECTED' : i % 7 === 6 ? 'FAILED' : 'EXECUTED';
    out.push(
      await k.gateway.emit({
        account: `acct-${i % 3}`,
        outcome,
        ...(outcome === 'REJECTED' ? { reason: 'SYMBOL_NOT_ALLOWED' } : {}),
        ...(outcome === 'FAILED' ? { reason: 'EXCHANGE_REJECTED' } : {}),
      }),
    );
  }
  return out;
}

async function audit(
  details: readonly unknown[],
  k: SyntheticKit,
  extra: Partial<AuditorOptions> = {},
  checkpoints: readonly string[] = [],
) {
  const a = auditorFor(k, extra);
  for (const d of details) await a.ingest(d);
  for (const c of checkpoints) await a.addCheckpoint(c);
  const report = a.finish(SOURCE);
  // Every report must satisfy the published schema.
  expect(AuditReport.parse(report)).toEqual(report);
  return report;
}

function codes(report: AuditReport): FindingCode[] {
  return report.findings.map((f) => f.code);
}

/** Flips one character of the payload segment (base64url alphabet preserved). */
function tamperPayload(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const i = Math.floor(p.length / 2);
  const c = p[i] === 'A' ? 'B' : 'A';
  return `${h}.${p.slice(0, i)}${c}${p.slice(i + 1)}.${s}`;
}

describe('createAuditor', () => {
  it('finish() twice, or memory() before finish(), is a bug thrown as INTERNAL', async () => {
    const a = auditorFor(await freshKit());
    expect(() => a.memory()).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    a.finish({ kind: 'embedded-live', from: null, to: null, gateway: null });
    expect(() => a.finish({ kind: 'embedded-live', from: null, to: null, gateway: null })).toThrow(
      expect.objectContaining({ code: 'INTERNAL' }),
    );
  });

  it('reports a clean chain delivered shuffled and duplicated, with exact counts', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 30);
    const details = emitted.map((e) => e.detail);
    // Reverse, interleave and duplicate a third of them.
    const delivery = [...details].reverse().concat(details.filter((_, i) => i % 3 === 0));
    const report = await audit(delivery, k, {}, [await k.gateway.checkpoint('gw-1/0')]);
    expect(report.findings).toEqual([]);
    expect(report.clean).toBe(true);
    expect(report.summary.events).toBe(40);
    expect(report.summary.receipts).toBe(30);
    expect(report.summary.duplicates).toBe(10);
    const expected = { EXECUTED: 0, REJECTED: 0, FAILED: 0, UNKNOWN: 0 };
    for (const e of emitted) expected[e.claims.outcome]++;
    expect(report.summary.byOutcome).toEqual(expected);
    expect(report.summary.rejectionsByReason).toEqual({
      EXCHANGE_REJECTED: expected.FAILED,
      SYMBOL_NOT_ALLOWED: expected.REJECTED,
    });
    expect(report.summary.streams).toMatchObject([
      { stream: 'gw-1/0', firstSeq: 1, lastSeq: 30, receipts: 30, checkpointSeq: 30, status: 'ok' },
    ]);
    // 0.015 × 64000.10 = 960.0015 per EXECUTED receipt, summed exactly.
    const acct0 = emitted.filter(
      (e) => e.claims.req.sub === 'acct-0' && e.claims.outcome === 'EXECUTED',
    ).length;
    expect(report.summary.accounts.find((a) => a.id === 'acct-0')).toMatchObject({
      executed: acct0,
      notional: (acct0 * 960.0015).toFixed(4).replace(/\.?0+$/, ''),
    });
    expect(report.summary.requesters).toEqual([
      {
        id: 'req-1',
        receipts: 30,
        executed: expected.EXECUTED,
        notional: report.summary.requesters[0]!.notional,
      },
    ]);
  });

  it('applies overlapping ingestMany calls in call order, whichever verifies first', async () => {
    const k = await freshKit();
    const [first, second] = (await emitMany(k, 2)).map((e) => e.detail);
    const verifiers = createAuditVerifiers({
      gatewayKeys: staticKeys(k.gatewayJwks),
      requesterKeys: staticKeys(k.requesterJwks),
      gateways: ['gw-1'],
      requesters: ['req-1'],
      clock,
    });
    // The first call's receipts take 50 ms longer to verify than the second call's.
    let calls = 0;
    const slowFirst = {
      ...verifiers,
      receipt: async (token: string) => {
        const slow = calls++ < 2;
        const claims = await verifiers.receipt(token);
        if (slow) await new Promise((r) => setTimeout(r, 50));
        return claims;
      },
    };
    const a = createAuditor({ verifiers: slowFirst, clockSkewSec: 30, clock });
    // seq 1 twice, then seq 2 and seq 1 again: in call order, the copies are the duplicates.
    const one = a.ingestMany([first, first]);
    const two = a.ingestMany([second, first]);
    expect(await two).toEqual(['accepted', 'duplicate']);
    expect(await one).toEqual(['accepted', 'duplicate']);
    const report = a.finish(SOURCE);
    expect(report.findings).toEqual([]);
    expect(report.summary.duplicates).toBe(2);
  });

  it('flags a copy of an audited receipt whose event carries another messageId or request', async () => {
    const k = await freshKit();
    const [a, b] = await emitMany(k, 2);
    const moved = { ...a!.detail, messageId: 'ffffffff-0000-0000-0000-000000000000' };
    const swapped = { ...a!.detail, request: b!.detail.request };
    // The untouched event first: the altered copies come after it, as an archive writer adds them.
    const report = await audit([a!.detail, b!.detail, moved, swapped, a!.detail], k);
    expect(report.clean).toBe(false);
    expect(report.findings.every((f) => f.seq === 1)).toBe(true);
    expect(codes(report)).toEqual(
      expect.arrayContaining(['EVENT_MISMATCH', 'REQUEST_HASH_MISMATCH']),
    );
    expect(report.summary.duplicates).toBe(1); // only the identical copy
  });

  it('flags a second answer to one request and one message (ANSWERED_TWICE), not follow-ups or REPLAYED', async () => {
    const k = await freshKit();
    const first = await k.gateway.emit();
    const sameRequest = (extra: Partial<ReceiptClaims> = {}) => ({
      tamperRequest: () => first.detail.request!,
      mutateClaims: (c: ReceiptClaims): ReceiptClaims => ({
        ...c,
        req: first.claims.req,
        messageId: first.claims.messageId,
        ...extra,
      }),
    });
    // The same message executed again (a lost nonce record), then answered EXPIRED as well.
    const again = await k.gateway.emit(sameRequest());
    const expired = await k.gateway.emit({
      outcome: 'REJECTED',
      reason: 'EXPIRED',
      mutateClaims: (c) => ({
        ...c,
        req: { ...c.req, iss: null, jti: null, sub: null },
        messageId: first.claims.messageId,
      }),
    });
    const report = await audit(
      [first, again, expired].map((e) => e.detail),
      k,
    );
    expect(report.findings.map((f) => [f.code, f.seq, f.message.split(' ')[0]])).toEqual([
      ['ANSWERED_TWICE', 2, 'message'],
      ['ANSWERED_TWICE', 2, 'request'],
      ['ANSWERED_TWICE', 3, 'message'],
    ]);

    const k2 = await freshKit();
    const unknown = await k2.gateway.emit({ outcome: 'UNKNOWN', reason: 'EXCHANGE_TIMEOUT' });
    const followUp = await k2.gateway.emit({
      tamperRequest: () => unknown.detail.request!,
      mutateClaims: (c) => ({
        ...c,
        req: unknown.claims.req,
        messageId: unknown.claims.messageId,
        resolves: unknown.claims.jti,
      }),
    });
    const replayed = await k2.gateway.emit({
      outcome: 'REJECTED',
      reason: 'REPLAYED',
      tamperRequest: () => unknown.detail.request!,
      mutateClaims: (c) => ({ ...c, req: unknown.claims.req, messageId: 'another-message' }),
    });
    const clean = await audit(
      [unknown, followUp, replayed].map((e) => e.detail),
      k2,
    );
    expect(clean.findings).toEqual([]);
  });

  it('flags a receipt with one byte of its payload changed (BAD_RECEIPT_SIGNATURE)', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 5);
    const details: ReceiptEventDetail[] = emitted.map((e) => e.detail);
    details[2] = { ...details[2]!, receipt: tamperPayload(details[2]!.receipt) };
    const report = await audit(details, k);
    const bad = report.findings.find((f) => f.code === 'BAD_RECEIPT_SIGNATURE');
    expect(bad).toMatchObject({ verifierCode: 'BAD_SIGNATURE' });
    // The tampered receipt is not placed in the chain: its seq is a gap.
    expect(report.findings.find((f) => f.code === 'SEQ_GAP')).toMatchObject({
      stream: 'gw-1/0',
      seq: 3,
    });
    expect(report.summary.receipts).toBe(4);
    expect(report.clean).toBe(false);
  });

  it('flags a forged receipt signed by a key that is not the gateway key', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 3);
    const forged = await k.gateway.emit({ signWith: stranger });
    const report = await audit([...emitted.map((e) => e.detail), forged.detail], k);
    expect(report.findings).toEqual([
      expect.objectContaining({
        code: 'BAD_RECEIPT_SIGNATURE',
        verifierCode: 'UNKNOWN_KID',
        stream: 'gw-1/0',
        seq: 4,
        jti: forged.claims.jti,
      }),
    ]);
  });

  it('flags a forged receipt signed with the requester key (kid known elsewhere)', async () => {
    const k = await freshKit();
    const forged = await k.gateway.emit({ signWith: k.requesterSigner });
    const report = await audit([forged.detail], k);
    expect(codes(report)).toContain('BAD_RECEIPT_SIGNATURE');
  });

  it('flags a receipt from a gateway that is not trusted', async () => {
    const k = await freshKit();
    const other = await k.gateway.emit({
      mutateClaims: (c) => ({ ...c, iss: 'gw-evil', stream: 'gw-evil/0' }),
    });
    const report = await audit([other.detail], k);
    expect(report.findings[0]).toMatchObject({
      code: 'UNTRUSTED_GATEWAY',
      verifierCode: 'ISSUER_NOT_TRUSTED',
    });
  });

  it('flags a receipt whose request token was altered', async () => {
    const k = await freshKit();
    const altered = await k.gateway.emit({ tamperRequest: tamperPayload });
    const report = await audit([altered.detail], k);
    expect(codes(report)).toEqual(['REQUEST_HASH_MISMATCH', 'REQUEST_INVALID']);
    expect(report.findings[1]!.verifierCode).toBe('BAD_SIGNATURE');
  });

  it('flags a request replaced by another validly signed one (hash and ids mismatch)', async () => {
    const k = await freshKit();
    const a = await k.gateway.emit();
    const b = await k.gateway.emit({ account: 'acct-2' });
    const swapped = { ...b.detail, request: a.detail.request };
    const report = await audit([a.detail, swapped], k);
    expect(codes(report)).toEqual(['REQUEST_HASH_MISMATCH', 'REQUEST_MISMATCH']);
    expect(report.findings[1]!.message).toContain('jti');
  });

  it('flags an EXECUTED receipt without a request token', async () => {
    const k = await freshKit();
    const e = await k.gateway.emit();
    const report = await audit([{ ...e.detail, request: null }], k);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: 'REQUEST_INVALID', verifierCode: 'MISSING' }),
    ]);
  });

  it('accepts a REJECTED receipt whose request never verified, but checks its hash', async () => {
    const k = await freshKit();
    const junk = 'eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.c2ln';
    const ok = await k.gateway.emit({
      outcome: 'REJECTED',
      reason: 'BAD_SIGNATURE',
      tamperRequest: () => junk,
      mutateClaims: (c) => ({
        ...c,
        req: { jti: null, iss: null, sub: null, sha256: createHashB64u(junk) },
      }),
    });
    const wrong = await k.gateway.emit({
      outcome: 'REJECTED',
      reason: 'BAD_SIGNATURE',
      tamperRequest: () => junk,
    });
    const report = await audit([ok.detail, wrong.detail], k);
    expect(report.findings.map((f) => [f.code, f.seq])).toEqual([['REQUEST_HASH_MISMATCH', 2]]);
    expect(report.summary.accounts.map((a) => a.id)).toContain('(unverified)');
  });

  it('flags a receipt issued after its request expired (OUTSIDE_VALIDITY_WINDOW)', async () => {
    const k = await freshKit();
    const late = await k.gateway.emit({ requestExpiresBeforeReceipt: true });
    const report = await audit([late.detail], k);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: 'OUTSIDE_VALIDITY_WINDOW', verifierCode: 'EXPIRED' }),
    ]);
  });

  it('reports a deleted receipt in the middle as SEQ_GAP', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 10);
    const kept = emitted
      .filter((e) => e.claims.seq !== 4 && e.claims.seq !== 7)
      .map((e) => e.detail);
    const report = await audit(kept, k);
    expect(report.findings.map((f) => [f.code, f.seq, f.message])).toEqual([
      ['SEQ_GAP', 4, 'receipt 4 is missing'],
      ['SEQ_GAP', 7, 'receipt 7 is missing'],
    ]);
    expect(report.summary.streams[0]).toMatchObject({ missing: 2, status: 'broken' });
  });

  it('reports a deleted tail as TAIL_TRUNCATED against the signed checkpoint', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 10);
    const checkpoint = await k.gateway.checkpoint('gw-1/0');
    const report = await audit(
      emitted.slice(0, 7).map((e) => e.detail),
      k,
      {},
      [checkpoint],
    );
    expect(report.findings).toEqual([
      expect.objectContaining({ code: 'TAIL_TRUNCATED', stream: 'gw-1/0', seq: 10 }),
    ]);
    // Without the checkpoint, the truncation is invisible: that is why checkpoints exist.
    const blind = await audit(
      emitted.slice(0, 7).map((e) => e.detail),
      k,
    );
    expect(blind.clean).toBe(true);
  });

  it('flags a checkpoint that does not verify, and one whose head does not match', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 3);
    const good = await k.gateway.checkpoint('gw-1/0');
    const forged = await signJwt(
      k.gatewaySigner,
      {
        v: 1,
        iss: 'gw-1',
        iat: START,
        stream: 'gw-1/0',
        seq: 2,
        head: 'B'.repeat(43),
        index: 1,
        prevCheckpoint: 'A'.repeat(43),
      },
      { typ: 'txn-checkpoint+jwt' },
    );
    const report = await audit(
      emitted.map((e) => e.detail),
      k,
      {},
      [tamperPayload(good)],
    );
    expect(codes(report)).toEqual(['CHECKPOINT_INVALID']);
    const mismatch = await audit(
      emitted.map((e) => e.detail),
      k,
      {},
      [forged],
    );
    expect(mismatch.findings).toEqual([
      expect.objectContaining({ code: 'CHECKPOINT_MISMATCH', seq: 2 }),
    ]);
  });

  it('reports two different receipts with one seq as CONFLICTING_SEQ', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 5);
    const second3 = await k.gateway.emit({
      mutateClaims: (c) => ({ ...c, seq: 3, prev: emitted[1]!.hash }),
    });
    const report = await audit([...emitted.map((e) => e.detail), second3.detail], k);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: 'CONFLICTING_SEQ', seq: 3, jti: second3.claims.jti }),
    ]);
  });

  it('reports a receipt whose prev does not link as CHAIN_BROKEN, whatever the arrival order', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 4);
    const bad = await k.gateway.emit({ mutateClaims: (c) => ({ ...c, prev: 'C'.repeat(43) }) });
    const inOrder = await audit(
      [...emitted, bad].map((e) => e.detail),
      k,
    );
    const reversed = await audit(
      [bad, ...emitted].reverse().map((e) => e.detail),
      k,
    );
    for (const r of [inOrder, reversed]) {
      expect(r.findings).toEqual([expect.objectContaining({ code: 'CHAIN_BROKEN', seq: 5 })]);
    }
  });

  it('flags an EXECUTED order over the recorded maxNotional (exact decimals)', async () => {
    const k = await freshKit();
    const atLimit = await k.gateway.emit({
      txn: { quantity: '1.5', limitPrice: '100' },
      policy: { version: POLICY.version, maxNotional: '150' },
    });
    const over = await k.gateway.emit({
      txn: { quantity: '1.50000001', limitPrice: '100' },
      policy: { version: POLICY.version, maxNotional: '150' },
    });
    const none = await k.gateway.emit({ policy: null });
    const report = await audit(
      [atLimit, over, none].map((e) => e.detail),
      k,
    );
    expect(report.findings.map((f) => [f.code, f.seq])).toEqual([
      ['POLICY_VIOLATION', 2],
      ['POLICY_VIOLATION', 3],
    ]);
    expect(report.findings[0]!.message).toContain('150.000001');
  });

  it('re-checks EXECUTED receipts against configured policies by version', async () => {
    const k = await freshKit();
    const e = await k.gateway.emit({ account: 'acct-9' });
    const policies = new Map([
      [
        POLICY.version,
        {
          id: 'req-1',
          accounts: ['acct-1'],
          symbols: ['BTC-USD'],
          sides: ['buy', 'sell'] as ('buy' | 'sell')[],
          maxNotional: '100000',
          maxOrdersPerMinute: 600,
        },
      ],
    ]);
    const report = await audit([e.detail], k, { policies });
    expect(report.findings).toEqual([
      expect.objectContaining({
        code: 'POLICY_VIOLATION',
        message: 'account acct-9 not allowed by policy req-1',
      }),
    ]);
  });

  it('reports malformed events without attributing them to a stream', async () => {
    const k = await freshKit();
    const report = await audit([{ receipt: 'x' }, null, 'text'], k);
    expect(codes(report)).toEqual(['MALFORMED_EVENT', 'MALFORMED_EVENT', 'MALFORMED_EVENT']);
    expect(report.summary.events).toBe(3);
  });

  it('audits a window from its first seq and resumes from saved heads', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 12);
    const windowed = await audit(
      emitted.slice(5).map((e) => e.detail),
      k,
      { window: { checkpointsUntil: null } },
    );
    expect(windowed.clean).toBe(true);
    expect(windowed.summary.streams[0]).toMatchObject({ firstSeq: 6, lastSeq: 12 });

    const first = auditorFor(k);
    for (const e of emitted.slice(0, 8)) await first.ingest(e.detail);
    const heads = first.heads();
    expect(heads.get('gw-1/0')?.seq).toBe(8);
    // Restart: re-deliveries of audited receipts are duplicates, the chain links on.
    const resumed = await audit(
      emitted.slice(6).map((e) => e.detail),
      k,
      { starts: heads },
    );
    expect(resumed.clean).toBe(true);
    expect(resumed.summary).toMatchObject({ receipts: 4, duplicates: 2 });
    // A broken link right after the resume point is still caught.
    const wrongHead = new Map([['gw-1/0', { seq: 8, head: 'D'.repeat(22) }]]);
    const broken = await audit(
      emitted.slice(8).map((e) => e.detail),
      k,
      { starts: wrongHead },
    );
    expect(codes(broken)).toEqual(['CHAIN_BROKEN']);
  });

  it('skips other gateways when filtering, and caps stored findings but counts them all', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 6);
    const filtered = await audit(
      emitted.map((e) => e.detail),
      k,
      { gateway: 'gw-other' },
    );
    expect(filtered.summary.events).toBe(0);
    const capped = await audit(
      emitted.map((e) => ({ ...e.detail, request: null })),
      k,
      { maxFindings: 2 },
    );
    const total = Object.values(capped.summary.findingsByCode).reduce((a, b) => a + b, 0);
    expect(capped.summary.findingsByCode.REQUEST_INVALID).toBeGreaterThan(2);
    // The REJECTED ones without a request: the receipt does not say it was dropped.
    expect(capped.summary.findingsByCode.EVENT_MISMATCH).toBeGreaterThan(0);
    expect(capped.findings).toHaveLength(2);
    expect(capped.findingsOmitted).toBe(total - 2);
  });
});

function createHashB64u(s: string): string {
  return createHash('sha256').update(s).digest('base64url');
}

describe('gateway key retirement (issue 18)', () => {
  it('verifies receipts signed before the key retired and reports those signed after', async () => {
    const k = await freshKit();
    const emitted = await emitMany(k, 6);
    // The gateway key retired at the 4th receipt's time: it and the later ones are findings.
    const retiredAt = emitted[3]!.claims.iat;
    expect(emitted[2]!.claims.iat).toBeLessThan(retiredAt);
    const gatewayJwks = { keys: k.gatewayJwks.keys.map((key) => ({ ...key, exp: retiredAt })) };
    const report = await audit(
      emitted.map((e) => e.detail),
      k,
      {
        verifiers: createAuditVerifiers({
          gatewayKeys: staticKeys(gatewayJwks),
          requesterKeys: staticKeys(k.requesterJwks),
          gateways: ['gw-1'],
          requesters: ['req-1'],
          clock,
        }),
      },
    );
    const retired = report.findings.filter((f) => f.code === 'RECEIPT_KEY_RETIRED');
    expect(retired.map((f) => [f.seq, f.verifierCode])).toEqual(
      emitted.slice(3).map((e) => [e.claims.seq, 'KEY_RETIRED']),
    );
    expect(report.clean).toBe(false);
  });
});
