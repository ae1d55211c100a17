// A gateway assembled from real signers and verifier plus injectable stores, for unit and fault
// tests. Not part of the runtime; exported under "@countersign/exchange-gateway/testing".
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { clientOrderIdOf, RequesterPolicy, TokenTypes } from '@countersign/contracts';
import type { ReceiptClaims, RequestClaims } from '@countersign/contracts';
import type { NonceStore } from '@countersign/replay-guard';
import { createLocalSigner, signJwt } from '@countersign/signing';
import type { Signer } from '@countersign/signing';
import type { EventBus, ReceivedMessage } from '@countersign/transport';
import { combineKeys, createVerifier, decodeUnverified, staticKeys } from '@countersign/verifier';
import type { KeyResolver } from '@countersign/verifier';
import { createChainWriter } from '../chain.ts';
import { createCheckpointer, type Checkpointer } from '../checkpoints.ts';
import { createPaperExchange, type PaperExchange } from '../paper-exchange.ts';
import {
  createProcessor,
  newOwnerId,
  type Processor,
  type ProcessorOptions,
  type RequestVerifier,
} from '../pipeline.ts';
import { createAuthorizer } from '../policy.ts';
import type { CheckpointStore, Exchange } from '../ports.ts';
import type { RetryOptions } from '../retry.ts';
import { fakeBus, fakeClock, fakeNonceStore, type FakeClock } from './fakes.ts';

export const GATEWAY_ID = 'gw-test';
export const REQUESTER_ID = 'req-test';

export async function newEs256Signer(): Promise<Signer> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return createLocalSigner({ privateKey, alg: 'ES256' });
}

export function defaultPolicy(
  signer: Signer,
  over: Partial<RequesterPolicy> = {},
): RequesterPolicy {
  return RequesterPolicy.parse({
    id: REQUESTER_ID,
    accounts: ['acct-1', 'acct-2', 'acct-3', 'acct-4'],
    symbols: ['BTC-USD', 'ETH-USD'],
    sides: ['buy', 'sell'],
    maxNotional: '100000',
    maxOrdersPerMinute: 100_000,
    jwks: { keys: [signer.publicJwk] },
    ...over,
  });
}

export interface HarnessOptions {
  readonly clock?: FakeClock;
  readonly nonceStore?: NonceStore;
  readonly bus?: EventBus;
  readonly exchange?: Exchange & Partial<PaperExchange>;
  readonly requesterSigner?: Signer;
  readonly gatewaySigner?: Signer;
  readonly policies?: (requester: Signer) => RequesterPolicy[];
  /** Extra trusted keys (e.g. an issuer without a policy). */
  readonly extraKeys?: KeyResolver;
  readonly extraIssuers?: readonly string[];
  readonly partitions?: number;
  readonly maxReceives?: number;
  readonly leaseMs?: number;
  readonly checkpointStore?: CheckpointStore;
  readonly checkpointEvery?: number;
  readonly signRetry?: RetryOptions;
  readonly processor?: Partial<ProcessorOptions>;
}

export interface Harness {
  readonly clock: FakeClock;
  readonly nonceStore: NonceStore;
  readonly bus: EventBus;
  readonly exchange: Exchange & Partial<PaperExchange>;
  readonly requesterSigner: Signer;
  readonly gatewaySigner: Signer;
  /** The request verifier the processor uses (real keys, the harness clock). */
  readonly verifier: RequestVerifier;
  processor: Processor;
  readonly checkpointer: Checkpointer | undefined;
  /** A fresh processor (new owner, empty caches) on the same stores: a restarted gateway. */
  restart(over?: Partial<ProcessorOptions>): Processor;
  token(
    over?: Partial<Omit<RequestClaims, 'txn'>> & { txn?: Partial<RequestClaims['txn']> },
    signer?: Signer,
  ): Promise<string>;
  message(body: string, over?: Partial<ReceivedMessage>): ReceivedMessage;
  /** Verifies a receipt with the gateway's public key and returns its claims. */
  verifyReceipt(token: string): Promise<ReceiptClaims>;
  /** The exchange's client order id of a request token (clientOrderIdOf(iss, jti)). */
  orderId(token: string): string;
}

/** The exchange's client order id of a request token (read without verifying it). */
export function orderIdOf(token: string): string {
  const claims = decodeUnverified(token);
  if (typeof claims?.iss !== 'string' || typeof claims.jti !== 'string') {
    throw new TypeError('not a request token');
  }
  return clientOrderIdOf(claims.iss, claims.jti);
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = options.clock ?? fakeClock();
  const nonceStore = options.nonceStore ?? fakeNonceStore();
  const bus = options.bus ?? fakeBus();
  const exchange = options.exchange ?? createPaperExchange();
  const requesterSigner = options.requesterSigner ?? (await newEs256Signer());
  const gatewaySigner = options.gatewaySigner ?? (await newEs256Signer());
  const policies = options.policies
    ? options.policies(requesterSigner)
    : [defaultPolicy(requesterSigner)];
  const keys = combineKeys(
    ...policies.filter((p) => p.jwks).map((p) => staticKeys(p.jwks!, { issuer: p.id })),
    ...(options.extraKeys ? [options.extraKeys] : []),
  );
  const verifier = createVerifier({
    keys,
    issuers: [...policies.map((p) => p.id), ...(options.extraIssuers ?? [])],
    audience: GATEWAY_ID,
    typ: TokenTypes.REQUEST,
    clock,
  });
  const receiptVerifier = createVerifier({
    keys: staticKeys({ keys: [gatewaySigner.publicJwk] }),
    issuers: [GATEWAY_ID],
    audience: null,
    typ: TokenTypes.RECEIPT,
    clock,
    // Receipts have no exp; the verifier's lifetime checks don't apply to them.
  });
  const checkpointer = options.checkpointStore
    ? createCheckpointer({
        gatewayId: GATEWAY_ID,
        signer: gatewaySigner,
        store: options.checkpointStore,
        every: options.checkpointEvery ?? 100,
        clock,
      })
    : undefined;

  const build = (over: Partial<ProcessorOptions> = {}): Processor => {
    const owner = newOwnerId(GATEWAY_ID);
    const chain = createChainWriter({
      gatewayId: GATEWAY_ID,
      nonceStore,
      signer: gatewaySigner,
      clock,
      owner,
      signRetry: options.signRetry ?? { baseDelayMs: 1, maxDelayMs: 5 },
    });
    return createProcessor({
      gatewayId: GATEWAY_ID,
      partitions: options.partitions ?? 1,
      verifier,
      nonceStore,
      exchange,
      bus,
      chain,
      authorizer: createAuthorizer({ policies, clock }),
      clock,
      owner,
      maxTokenBytes: 8192,
      maxReceives: options.maxReceives ?? 5,
      clockSkewSec: 30,
      leaseMs: options.leaseMs ?? 10_000,
      ...(checkpointer ? { checkpointer } : {}),
      ...options.processor,
      ...over,
    });
  };

  const harness: Harness = {
    clock,
    nonceStore,
    bus,
    exchange,
    requesterSigner,
    gatewaySigner,
    verifier,
    processor: build(),
    checkpointer,
    restart(over) {
      harness.processor = build(over);
      return harness.processor;
    },
    async token(over = {}, signer = requesterSigner) {
      const iat = Math.floor(clock.now() / 1000);
      const { txn, ...rest } = over;
      const claims = {
        iss: REQUESTER_ID,
        sub: 'acct-1',
        aud: GATEWAY_ID,
        iat,
        nbf: iat,
        exp: iat + 60,
        jti: randomBytes(16).toString('base64url'),
        txn: {
          type: 'order',
          side: 'buy',
          symbol: 'BTC-USD',
          quantity: '0.015',
          limitPrice: '64000.10',
          timeInForce: 'GTC',
          ...txn,
        },
        ...rest,
      };
      return signJwt(signer, claims, { typ: TokenTypes.REQUEST });
    },
    message(body, over = {}) {
      return {
        messageId: randomBytes(8).toString('hex'),
        body,
        groupId: 'acct-1',
        receiveCount: 1,
        receiptHandle: randomBytes(8).toString('hex'),
        sentAt: clock.now(),
        ...over,
      };
    },
    async verifyReceipt(token) {
      return (await receiptVerifier.verify(token)).claims;
    },
    orderId: orderIdOf,
  };
  return harness;
}
