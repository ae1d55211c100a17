import { describe, expect, it } from 'vitest';
import { ReceiptClaims, WIRE_VERSION } from './claims.ts';
import { GENESIS_PREV } from './ids.ts';
import { buildReceiptClaims, type ReceiptDraft } from './receipt-builder.ts';

const draft: ReceiptDraft = {
  req: { jti: 'j'.repeat(22), iss: 'req-1', sub: 'acct-1', sha256: 's'.repeat(43) },
  messageId: 'm-1',
  outcome: 'EXECUTED',
  fills: [{ quantity: '1', price: '2' }],
};
const at = {
  gatewayId: 'gw-1',
  iat: 1_800_000_100,
  jti: 'r'.repeat(22),
  stream: 'gw-1/0',
  seq: 1,
  prev: GENESIS_PREV,
};

describe('buildReceiptClaims: verifiedAt', () => {
  it('names the verification time only when it is before the receipt (same wire version)', () => {
    const late = buildReceiptClaims({ ...draft, verifiedAt: at.iat - 90 }, at);
    expect(late).toMatchObject({ v: WIRE_VERSION, iat: at.iat, verifiedAt: at.iat - 90 });
    // Verified in the second it is signed: nothing to add.
    expect(buildReceiptClaims({ ...draft, verifiedAt: at.iat }, at)).not.toHaveProperty(
      'verifiedAt',
    );
    // A later verification time (another host's clock ahead) is never claimed.
    expect(buildReceiptClaims({ ...draft, verifiedAt: at.iat + 5 }, at)).not.toHaveProperty(
      'verifiedAt',
    );
    expect(buildReceiptClaims(draft, at)).not.toHaveProperty('verifiedAt');
  });

  it('the schema refuses a verifiedAt after iat, one that is not a NumericDate, and unknown claims', () => {
    const claims = buildReceiptClaims(draft, at);
    expect(ReceiptClaims.safeParse({ ...claims, verifiedAt: at.iat }).success).toBe(true);
    for (const bad of [
      { ...claims, verifiedAt: at.iat + 1 },
      { ...claims, verifiedAt: 1.5 },
      { ...claims, verifiedAt: '1800000000' },
      { ...claims, verifiedAtMs: 1 },
    ]) {
      expect(ReceiptClaims.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
