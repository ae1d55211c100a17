// A synthetic gateway: signs requests and chained receipts exactly as the exchange gateway does
// (DESIGN §3), without a queue or an exchange. For audit tests, benchmarks and demos of tamper
// detection; it is not on any production path.
import { generateKeyPairSync } from 'node:crypto';
import {
  buildReceiptClaims,
  newJti,
  nextCheckpointClaims,
  partitionOf,
  sha256B64u,
  streamOf,
  GENESIS_PREV,
  type Algorithm,
  TokenTypes,
  type CheckpointLink,
  type Fill,
  type Outcome,
  type ReasonCode,
  type ReceiptClaims,
  type ReceiptEventDetail,
  type RequestClaims,
  type TransactionRequest,
} from '@countersign/contracts';
import { createLocalSigner, signJwt, type Jwks, type Signer } from '@countersign/signing';

export interface SyntheticGatewayOptions {
  readonly gatewayId: string;
  readonly gatewaySigner: Signer;
  readonly requesterSigner: Signer;
  readonly requesterId: string;
  /** Epoch seconds of the first receipt; each receipt is one second later unless `iat` is given. */
  readonly startTime: number;
  readonly partitions?: number;
  /** Recorded on EXECUTED receipts. */
  readonly policy?: { readonly version: string; readonly maxNotional: string };
  /** Sign one request per account and reuse it (fast bulk generation for benchmarks). */
  readonly reuseRequests?: boolean;
}

export interface EmitOptions {
  readonly account?: string;
  readonly outcome?: Outcome;
  readonly reason?: ReasonCode;
  readonly txn?: Partial<TransactionRequest>;
  readonly fills?: readonly Fill[];
  readonly iat?: number;
  /** Replace the request token in the event (the receipt still hashes the original). */
  readonly tamperRequest?: (token: string) => string;
  /** Sign the request with a lifetime ending before the receipt (for window tests). */
  readonly requestExpiresBeforeReceipt?: boolean;
  /** Override receipt claims after they are built (before signing). */
  readonly mutateClaims?: (claims: ReceiptClaims) => ReceiptClaims;
  /** The gateway did not keep the request (too large): `req.kept: false`, no token in the event. */
  readonly dropRequest?: boolean;
  /** Sign the receipt with this signer instead of the gateway's (forgery tests). */
  readonly signWith?: Signer;
  /** Record this policy instead of the default (null = none). */
  readonly policy?: { readonly version: string; readonly maxNotional: string } | null;
}

export interface EmittedReceipt {
  readonly detail: ReceiptEventDetail;
  readonly claims: ReceiptClaims;
  readonly hash: string;
}

export interface SyntheticGateway {
  emit(options?: EmitOptions): Promise<EmittedReceipt>;
  /** Signs the stream's next checkpoint (its current head), chained like the gateway's. */
  checkpoint(stream: string, options?: { readonly iat?: number }): Promise<string>;
  /** Streams written so far with their last seq and head. */
  heads(): ReadonlyMap<string, { seq: number; head: string }>;
}

const DEFAULT_TXN: TransactionRequest = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '0.015',
  limitPrice: '64000.10',
  timeInForce: 'GTC',
};

export function createSyntheticGateway(options: SyntheticGatewayOptions): SyntheticGateway {
  const partitions = options.partitions ?? 1;
  const heads = new Map<string, { seq: number; head: string }>();
  const checkpointLinks = new Map<string, CheckpointLink>();
  const reused = new Map<string, { token: string; claims: RequestClaims }>();
  let clock = options.startTime;

  async function signRequest(
    account: string,
    iat: number,
    txn: TransactionRequest,
    expiresEarly: boolean,
  ): Promise<{ token: string; claims: RequestClaims }> {
    const claims: RequestClaims = {
      iss: options.requesterId,
      sub: account,
      aud: options.gatewayId,
      iat: expiresEarly ? iat - 200 : iat,
      nbf: expiresEarly ? iat - 200 : iat,
      exp: expiresEarly ? iat - 140 : iat + 60,
      jti: newJti(),
      txn,
    };
    const token = await signJwt(options.requesterSigner, claims, { typ: TokenTypes.REQUEST });
    return { token, claims };
  }

  return {
    async emit(o: EmitOptions = {}): Promise<EmittedReceipt> {
      const account = o.account ?? 'acct-1';
      const iat = o.iat ?? clock++;
      const outcome = o.outcome ?? 'EXECUTED';
      const txn: TransactionRequest = { ...DEFAULT_TXN, ...o.txn };
      // Reused requests (benchmarks): one token per account, re-signed when the receipt time
      // leaves its 300 s validity, so every receipt still verifies as of its own time.
      let req = options.reuseRequests && !o.txn ? reused.get(account) : undefined;
      if (req && (iat < req.claims.nbf || iat > req.claims.exp - 1)) req = undefined;
      if (!req) {
        req = options.reuseRequests
          ? await (async () => {
              const claims: RequestClaims = {
                iss: options.requesterId,
                sub: account,
                aud: options.gatewayId,
                iat,
                nbf: iat,
                exp: iat + 300,
                jti: newJti(),
                txn,
              };
              return {
                token: await signJwt(options.requesterSigner, claims, { typ: TokenTypes.REQUEST }),
                claims,
              };
            })()
          : await signRequest(account, iat, txn, o.requestExpiresBeforeReceipt ?? false);
        if (options.reuseRequests && !o.txn) reused.set(account, req);
      }
      const stream = streamOf(options.gatewayId, partitionOf(account, partitions));
      const head = heads.get(stream) ?? { seq: 0, head: GENESIS_PREV };
      const policy = o.policy === undefined ? options.policy : (o.policy ?? undefined);
      // Built by the gateway's own builder (contracts): the synthetic stream is the real format.
      let claims: ReceiptClaims = buildReceiptClaims(
        {
          req: {
            jti: req.claims.jti,
            iss: req.claims.iss,
            sub: req.claims.sub,
            sha256: sha256B64u(req.token),
            ...(o.dropRequest ? { kept: false as const } : {}),
          },
          messageId: `msg-${stream}-${head.seq + 1}`, // unique across streams, as SQS ids are
          outcome,
          ...(outcome === 'EXECUTED' ? {} : { reason: o.reason ?? 'EXCHANGE_REJECTED' }),
          fills: [
            ...(o.fills ??
              (outcome === 'EXECUTED' ? [{ quantity: txn.quantity, price: txn.limitPrice }] : [])),
          ],
          ...(outcome === 'EXECUTED' && policy ? { policy } : {}),
        },
        {
          gatewayId: options.gatewayId,
          iat,
          jti: newJti(),
          stream,
          seq: head.seq + 1,
          prev: head.head,
        },
      );
      if (o.mutateClaims) claims = o.mutateClaims(claims);
      const receipt = await signJwt(o.signWith ?? options.gatewaySigner, claims, {
        typ: TokenTypes.RECEIPT,
      });
      const hash = sha256B64u(receipt);
      heads.set(stream, { seq: claims.seq, head: hash });
      return {
        detail: {
          receipt,
          request: o.dropRequest ? null : o.tamperRequest ? o.tamperRequest(req.token) : req.token,
          messageId: claims.messageId,
        },
        claims,
        hash,
      };
    },

    async checkpoint(stream: string, o: { readonly iat?: number } = {}): Promise<string> {
      const head = heads.get(stream) ?? { seq: 0, head: GENESIS_PREV };
      const claims = nextCheckpointClaims(
        checkpointLinks.get(stream),
        { stream, seq: head.seq, hash: head.head },
        { iss: options.gatewayId, iat: o.iat ?? clock },
      );
      const token = await signJwt(options.gatewaySigner, claims, { typ: TokenTypes.CHECKPOINT });
      checkpointLinks.set(stream, { index: claims.index, token });
      return token;
    },

    heads: () => heads,
  };
}

export interface SyntheticKit {
  readonly gateway: SyntheticGateway;
  readonly gatewaySigner: Signer;
  readonly requesterSigner: Signer;
  readonly gatewayJwks: Jwks;
  readonly requesterJwks: Jwks;
}

/** Fresh local keys for a gateway and a requester, and a synthetic gateway signing with them. */
export async function createSyntheticKit(
  options: Omit<SyntheticGatewayOptions, 'gatewaySigner' | 'requesterSigner'> & {
    readonly alg?: Algorithm;
  },
): Promise<SyntheticKit> {
  const alg = options.alg ?? 'ES256';
  const newKey = () =>
    alg.startsWith('ES')
      ? generateKeyPairSync('ec', { namedCurve: alg === 'ES384' ? 'P-384' : 'P-256' }).privateKey
      : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const gatewaySigner = await createLocalSigner({ privateKey: newKey(), alg });
  const requesterSigner = await createLocalSigner({ privateKey: newKey(), alg });
  return {
    gateway: createSyntheticGateway({ ...options, gatewaySigner, requesterSigner }),
    gatewaySigner,
    requesterSigner,
    gatewayJwks: { keys: [gatewaySigner.publicJwk] },
    requesterJwks: { keys: [requesterSigner.publicJwk] },
  };
}
