// Signed order tokens and their queue deliveries, for tests that drive a real gateway (the
// start-up head check, the tamper suite, the S3 store on moto). Not used by any runtime.
import { randomBytes } from 'node:crypto';
import { TokenTypes } from '@countersign/contracts';
import { signJwt, type Signer } from '@countersign/signing';
import type { ReceivedMessage } from '@countersign/transport';

/** A valid order (buy 0.01 BTC-USD at 100, GTC) from `iss` for account `sub` to gateway `aud`. */
export function orderToken(
  signer: Signer,
  claims: {
    readonly iss: string;
    readonly sub: string;
    readonly aud: string;
    readonly lifetimeSec?: number;
  },
): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return signJwt(
    signer,
    {
      iss: claims.iss,
      sub: claims.sub,
      aud: claims.aud,
      iat,
      nbf: iat,
      exp: iat + (claims.lifetimeSec ?? 60),
      jti: randomBytes(16).toString('base64url'),
      txn: {
        type: 'order',
        side: 'buy',
        symbol: 'BTC-USD',
        quantity: '0.01',
        limitPrice: '100',
        timeInForce: 'GTC',
      },
    },
    { typ: TokenTypes.REQUEST },
  );
}

/** A first delivery of `body` in FIFO group `groupId`. */
export function delivery(body: string, groupId: string): ReceivedMessage {
  const id = randomBytes(8).toString('hex');
  return { messageId: id, body, groupId, receiveCount: 1, receiptHandle: id, sentAt: Date.now() };
}
