// Deliberately bad messages, put straight on the queue as an attacker with queue access would.
// Each must end in a REJECTED receipt with its own reason code.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Clock, ReasonCode, TransactionRequest } from '@countersign/contracts';
import { TokenTypes } from '@countersign/contracts';
import { createLocalSigner, signJwt, type Signer } from '@countersign/signing';
import type { OutgoingMessage } from '@countersign/transport';

export interface BadApple {
  /** Why the gateway must refuse it, in a few words (the summary prints it beside the reason). */
  readonly name: string;
  /** What the gateway must answer (the replay's original is EXECUTED). */
  readonly expect: { readonly outcome: 'EXECUTED' | 'REJECTED'; readonly reason?: ReasonCode };
  readonly message: OutgoingMessage;
}

export interface BadAppleContext {
  readonly signer: Signer;
  readonly issuer: string;
  readonly audience: string;
  readonly account: string;
  readonly clock: Clock;
}

const jti = () => randomBytes(16).toString('base64url');

const order: TransactionRequest = {
  type: 'order',
  side: 'buy',
  symbol: 'ETH-USD',
  quantity: '0.5',
  limitPrice: '3200',
  timeInForce: 'GTC',
};

function claims(
  ctx: BadAppleContext,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const iat = Math.floor(ctx.clock.now() / 1000);
  return {
    iss: ctx.issuer,
    sub: ctx.account,
    aud: ctx.audience,
    iat,
    nbf: iat,
    exp: iat + 60,
    jti: jti(),
    txn: order,
    ...overrides,
  };
}

function message(token: string, account: string, dedupId: string): OutgoingMessage {
  return { body: token, groupId: account, dedupId };
}

function idOf(c: Record<string, unknown>): string {
  return c.jti as string;
}

/** Flips one character of the payload segment, keeping it valid base64url. */
export function tamperPayload(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const i = Math.floor(p.length / 2);
  const flipped = p[i] === 'A' ? 'B' : 'A';
  return `${h}.${p.slice(0, i)}${flipped}${p.slice(i + 1)}.${s}`;
}

/** The messages to send first; the replay copy goes out after its original was receipted. */
export async function buildBadApples(
  ctx: BadAppleContext,
): Promise<{ now: BadApple[]; replay: BadApple }> {
  const typ = { typ: TokenTypes.REQUEST };
  const { account } = ctx;

  const expiredIat = Math.floor(ctx.clock.now() / 1000) - 600;
  const expired = claims(ctx, { iat: expiredIat, nbf: expiredIat, exp: expiredIat + 60 });
  const tampered = claims(ctx);
  const foreign = claims(ctx, { aud: 'some-other-gateway' });
  const rogueClaims = claims(ctx);
  const original = claims(ctx);

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rogue = await createLocalSigner({ privateKey, alg: 'ES256' });
  const originalToken = await signJwt(ctx.signer, original, typ);

  const now: BadApple[] = [
    {
      name: 'its lifetime ended minutes before it was sent',
      expect: { outcome: 'REJECTED', reason: 'EXPIRED' },
      message: message(await signJwt(ctx.signer, expired, typ), account, idOf(expired)),
    },
    {
      name: 'one character of the payload changed',
      expect: { outcome: 'REJECTED', reason: 'BAD_SIGNATURE' },
      message: message(
        tamperPayload(await signJwt(ctx.signer, tampered, typ)),
        account,
        idOf(tampered),
      ),
    },
    {
      name: 'a token for another gateway',
      expect: { outcome: 'REJECTED', reason: 'AUDIENCE_MISMATCH' },
      message: message(await signJwt(ctx.signer, foreign, typ), account, idOf(foreign)),
    },
    {
      name: 'signed by a key nobody trusts',
      expect: { outcome: 'REJECTED', reason: 'UNKNOWN_KID' },
      message: message(await signJwt(rogue, rogueClaims, typ), account, idOf(rogueClaims)),
    },
    {
      name: 'original of the replayed token',
      expect: { outcome: 'EXECUTED' },
      message: message(originalToken, account, idOf(original)),
    },
  ];
  const replay: BadApple = {
    name: 'the same token sent again as a new message',
    expect: { outcome: 'REJECTED', reason: 'REPLAYED' },
    // A new message (new dedup id) carrying the exact same token.
    message: message(originalToken, account, `${idOf(original)}-replay`),
  };
  return { now, replay };
}

/** Sent through the HTTP API like any order: valid, signed, but over the policy's notional. */
export const OVER_LIMIT_WHY = "quantity × limit price over the requester's policy";
export const OVER_LIMIT_ORDER: TransactionRequest = {
  type: 'order',
  side: 'buy',
  symbol: 'BTC-USD',
  quantity: '10',
  limitPrice: '64000',
  timeInForce: 'GTC',
  clientRef: 'demo-over-limit',
};
