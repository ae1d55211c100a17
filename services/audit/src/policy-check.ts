// EXECUTED receipts: the order must have been possible under the policy the receipt records
// (exact decimals), and under the configured policy of that version when policies are known.
// Pure: returns the problems as messages (POLICY_VIOLATION findings).
import {
  compareDecimals,
  fromScaled,
  multiplyDecimals,
  toScaled,
  type ReceiptClaims,
  type RequestClaims,
  type RequesterPolicy,
} from '@countersign/contracts';

export function checkPolicy(
  claims: ReceiptClaims,
  req: RequestClaims | null,
  policies: ReadonlyMap<string, RequesterPolicy> | undefined,
): string[] {
  if (claims.outcome !== 'EXECUTED') return [];
  if (!claims.policy) return ['EXECUTED receipt records no policy'];
  if (!req) return []; // already a REQUEST_* finding; nothing to check against
  const problems: string[] = [];
  const notional = multiplyDecimals(req.txn.quantity, req.txn.limitPrice);
  if (compareDecimals(notional, claims.policy.maxNotional) > 0) {
    problems.push(
      `notional ${notional} (quantity × limitPrice) exceeds the recorded maxNotional ${claims.policy.maxNotional}`,
    );
  }
  let filled = 0n;
  for (const f of claims.fills) {
    filled += toScaled(f.quantity, 8);
    const cmp = compareDecimals(f.price, req.txn.limitPrice);
    if ((req.txn.side === 'buy' && cmp > 0) || (req.txn.side === 'sell' && cmp < 0)) {
      problems.push(
        `fill price ${f.price} is beyond the limit ${req.txn.limitPrice} for a ${req.txn.side}`,
      );
    }
  }
  if (filled > toScaled(req.txn.quantity, 8)) {
    problems.push(
      `fills total ${fromScaled(filled, 8)} exceeds the ordered quantity ${req.txn.quantity}`,
    );
  }
  const known = policies?.get(claims.policy.version);
  if (policies && !known) {
    problems.push(`policy version ${claims.policy.version} is not a configured policy`);
  } else if (known) {
    if (known.id !== req.iss)
      problems.push(`policy ${known.id} is not the requester's (${req.iss})`);
    if (!known.accounts.includes(req.sub))
      problems.push(`account ${req.sub} not allowed by policy ${known.id}`);
    if (!known.symbols.includes(req.txn.symbol))
      problems.push(`symbol ${req.txn.symbol} not allowed by policy ${known.id}`);
    if (!known.sides.includes(req.txn.side))
      problems.push(`side ${req.txn.side} not allowed by policy ${known.id}`);
    if (compareDecimals(known.maxNotional, claims.policy.maxNotional) !== 0) {
      problems.push(
        `recorded maxNotional ${claims.policy.maxNotional} differs from policy ${known.id} (${known.maxNotional})`,
      );
    }
  }
  return problems;
}
