// Real receipt tokens for tests: a gateway key pair made at test time, and receipts it signs for
// a request (or with a payload tampered after signing). What the receipt verifier must accept,
// and the crafted tokens it must refuse.
import { generateKeyPairSync } from 'node:crypto';
import {
  GENESIS_PREV,
  TokenTypes,
  buildReceiptClaims,
  newJti,
  systemClock,
  type Outcome,
  type ReasonCode,
  type ReceiptEventDetail,
} from '@countersign/contracts';
import { createLocalSigner, signJwt, type Jwks, type Signer } from '@countersign/signing';
import { staticKeys } from '@countersign/verifier';
import type { Logger } from 'pino';
import { createReceiptVerifier } from '../receipt-intake.ts';
import { createReceiptSide } from '../receipts-wiring.ts';
import type { TransactionStore } from '../transaction-store.ts';

export interface ReceiptOrder {
  readonly iss: string;
  readonly jti: string;
  readonly account: string;
}

export interface ReceiptOptions {
  readonly outcome?: Outcome;
  readonly reason?: ReasonCode;
  /** The receipt jti of the UNKNOWN this one resolves. */
  readonly resolves?: string;
  readonly iat?: number;
}

export interface GatewayKit {
  readonly gatewayId: string;
  readonly signer: Signer;
  readonly jwks: Jwks;
  /** A receipt for `order`, signed by this gateway. */
  receipt(order: ReceiptOrder, options?: ReceiptOptions): Promise<string>;
  /** The bus event of a receipt (the request token is not needed by the requester). */
  event(receipt: string): ReceiptEventDetail;
}

/** A gateway with a fresh ES256 key (or `signer`'s: one key, another gateway id). */
export async function gatewayKit(gatewayId: string, withSigner?: Signer): Promise<GatewayKit> {
  const signer =
    withSigner ??
    (await createLocalSigner({
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      alg: 'ES256',
    }));
  let seq = 0;
  let prev = GENESIS_PREV;
  return {
    gatewayId,
    signer,
    jwks: { keys: [signer.publicJwk] },
    async receipt(order, options = {}) {
      const outcome = options.outcome ?? 'EXECUTED';
      const claims = buildReceiptClaims(
        {
          req: { jti: order.jti, iss: order.iss, sub: order.account, sha256: 'B'.repeat(43) },
          messageId: `msg-${order.jti}`,
          outcome,
          ...(outcome === 'EXECUTED' ? {} : { reason: options.reason ?? 'EXCHANGE_TIMEOUT' }),
          fills: [],
          ...(options.resolves === undefined ? {} : { resolves: options.resolves }),
        },
        {
          gatewayId,
          iat: options.iat ?? Math.floor(Date.now() / 1000),
          jti: newJti(),
          stream: `${gatewayId}/0`,
          seq: ++seq,
          prev,
        },
      );
      const token = await signJwt(signer, claims, { typ: TokenTypes.RECEIPT });
      prev = 'C'.repeat(43); // not a real chain: the requester does not check chains
      return token;
    },
    event: (receipt) => ({ receipt, request: null, messageId: `msg-${receipt.slice(-8)}` }),
  };
}

/** `token` with its payload replaced by `edit(payload)`, the signature kept (tampering). */
export function tamperPayload(
  token: string,
  edit: (payload: Record<string, unknown>) => Record<string, unknown>,
): string {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  const changed = Buffer.from(JSON.stringify(edit(claims))).toString('base64url');
  return `${header}.${changed}.${signature}`;
}

/** `token` re-signed by `other` but still naming the original kid in its header. */
export async function resignedUnderSameKid(token: string, other: Signer): Promise<string> {
  const [header, payload] = token.split('.');
  const input = Buffer.from(`${header}.${payload}`, 'ascii');
  const signature = Buffer.from(await other.sign(input)).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

/**
 * The receipt side of a requester as the wiring builds it, over `store`: a verifier with
 * `gateway`'s keys bound to its id, the intake and the status lookup sharing one set of signals.
 */
export function receiptRig(options: {
  readonly issuer: string;
  readonly gateway: GatewayKit;
  readonly store: TransactionStore;
  readonly logger: Logger;
  readonly pollMs?: number;
}) {
  const { issuer, gateway, store, logger } = options;
  const verifier = createReceiptVerifier({
    keys: staticKeys(gateway.jwks, { issuer: gateway.gatewayId }),
    gatewayId: gateway.gatewayId,
  });
  const side = createReceiptSide({
    issuer,
    verifier,
    store,
    logger,
    clock: systemClock,
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
  });
  return { verifier, ...side };
}
