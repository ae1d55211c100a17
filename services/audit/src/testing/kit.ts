// Shared by the audit's tests (not exported from the package): a synthetic gateway with fresh
// keys, and the auditor's verifiers for exactly those keys.
import type { Clock } from '@countersign/contracts';
import { staticKeys } from '@countersign/verifier';
import type { TokenVerifiers } from '../ports.ts';
import {
  createSyntheticKit,
  type SyntheticGatewayOptions,
  type SyntheticKit,
} from '../synthetic-gateway.ts';
import { createAuditVerifiers } from '../verifiers.ts';

/** Receipt times of the tests start here (2026-05-28); clocks are set after it. */
export const START = 1_780_000_000;

/** gw-1 and req-1 with fresh ES256 keys, receipts from START, a recorded policy. */
export function testKit(
  over: Partial<Omit<SyntheticGatewayOptions, 'gatewaySigner' | 'requesterSigner'>> = {},
): Promise<SyntheticKit> {
  return createSyntheticKit({
    gatewayId: 'gw-1',
    requesterId: 'req-1',
    startTime: START,
    policy: { version: 'v'.repeat(43), maxNotional: '100000' },
    ...over,
  });
}

/** The audit's verifiers trusting exactly the kit's keys. */
export function kitVerifiers(kit: SyntheticKit, clock?: Clock): TokenVerifiers {
  return createAuditVerifiers({
    gatewayKeys: staticKeys(kit.gatewayJwks),
    requesterKeys: staticKeys(kit.requesterJwks),
    gateways: ['gw-1'],
    requesters: ['req-1'],
    ...(clock ? { clock } : {}),
  });
}
