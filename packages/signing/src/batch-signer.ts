// The batching signer (issue #20): one signature over a Merkle tree head covers every item that
// gathered while the previous signature was in flight. No timer decides when a batch closes:
//
//   sign(a)           ──▶ round 1 starts at the next microtask: [a] alone → a plain JWS
//   sign(b..z)  while round 1 is in flight ──▶ they wait
//   round 1 returns   ──▶ round 2: [b..z] (up to maxBatchSize) → one head JWS, 25 items
//
// So an idle item costs exactly what per-item signing costs (same token, same one call, no
// added wait), and under load an item waits at most for the signature ahead of it.
// A batch of one is signed as a plain per-item token, not as a one-leaf batch: it is the token
// every verifier already accepts, smaller, and costs the same single signature.
import {
  BatchTypOf,
  DEFAULT_BATCH_SIZE,
  MAX_BATCH_SIZE,
  merkleBatch,
  type BatchableType,
} from '@countersign/contracts';
import { SigningError } from './errors.ts';
import { signJwt } from './jwt.ts';
import type { Signer } from './signer.ts';

export interface BatchSignerOptions<C extends object> {
  readonly signer: Signer;
  /** Typ of the items: requests (`txn+jwt`) or receipts (`txn-receipt+jwt`). */
  readonly typ: BatchableType;
  /**
   * The head's claims for a batch of two or more (`requestBatchHeadClaims`,
   * `receiptBatchHeadClaims`); throwing fails that batch's items.
   */
  readonly headClaims: (items: readonly C[], tree: { root: string; size: number }) => object;
  /** Most items under one signature (default 256). */
  readonly maxBatchSize?: number;
  /** Items of different groups never share a head (receipts: one stream per head). */
  readonly groupOf?: (claims: C) => string;
  /**
   * Sign an item alone as a one-leaf batch, not as a plain JWS (same single signature, no wait):
   * a receipt chain needs each receipt's chain hash before its signature exists.
   */
  readonly loneAsItem?: boolean;
  /** Wraps each signature, e.g. retries on KMS throttling (signing has no side effect). */
  readonly retry?: <T>(sign: () => Promise<T>) => Promise<T>;
}

export interface BatchSignerMetrics {
  /** Items signed (or failed). */
  readonly items: number;
  /** Calls to the underlying signer. */
  readonly signs: number;
  /** Of those, heads over two or more items. */
  readonly batches: number;
  readonly largestBatch: number;
}

export interface BatchSigner<C extends object> {
  /** A plain compact JWS when signed alone, else the batch item (canonical JSON). */
  sign(claims: C): Promise<string>;
  metrics(): BatchSignerMetrics;
}

interface Waiting<C> {
  readonly claims: C;
  readonly resolve: (token: string) => void;
  readonly reject: (err: unknown) => void;
}

export function createBatchSigner<C extends object>(
  options: BatchSignerOptions<C>,
): BatchSigner<C> {
  const { signer, typ, headClaims, groupOf } = options;
  const retry = options.retry ?? (<T>(sign: () => Promise<T>) => sign());
  const max = options.maxBatchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(max) || max < 1 || max > MAX_BATCH_SIZE) {
    throw new SigningError('CONFIG_INVALID', `maxBatchSize must be 1..${MAX_BATCH_SIZE}`);
  }
  const headTyp = BatchTypOf[typ];
  const waiting = new Map<string, Waiting<C>[]>();
  let inFlight = false;
  let scheduled = false;
  let items = 0;
  let signs = 0;
  let batches = 0;
  let largestBatch = 0;

  function schedule(): void {
    if (inFlight || scheduled || waiting.size === 0) return;
    scheduled = true;
    // A microtask, not a timer: calls made in the same turn (submitMany) share the first round,
    // and an idle item is signed before any timer could fire.
    queueMicrotask(round);
  }

  function round(): void {
    scheduled = false;
    const groups: Waiting<C>[][] = [];
    for (const [key, queue] of waiting) {
      groups.push(queue.splice(0, max));
      if (queue.length === 0) waiting.delete(key);
    }
    inFlight = true;
    void Promise.all(groups.map(signGroup)).then(() => {
      inFlight = false;
      schedule();
    });
  }

  async function signGroup(group: Waiting<C>[]): Promise<void> {
    signs++;
    items += group.length;
    largestBatch = Math.max(largestBatch, group.length);
    try {
      if (group.length === 1 && !options.loneAsItem) {
        const only = group[0]!;
        only.resolve(await retry(() => signJwt(signer, only.claims, { typ })));
        return;
      }
      if (group.length > 1) batches++;
      const claims = group.map((w) => w.claims);
      const tree = merkleBatch(claims);
      const headPayload = headClaims(claims, tree);
      const head = await retry(() => signJwt(signer, headPayload, { typ: headTyp }));
      tree.items(head).forEach((token, i) => group[i]!.resolve(token));
    } catch (err) {
      for (const w of group) w.reject(err);
    }
  }

  return {
    sign(claims: C): Promise<string> {
      return new Promise<string>((resolve, reject) => {
        const key = groupOf ? groupOf(claims) : '';
        let queue = waiting.get(key);
        if (!queue) waiting.set(key, (queue = []));
        queue.push({ claims, resolve, reject });
        schedule();
      });
    },
    metrics: () => ({ items, signs, batches, largestBatch }),
  };
}
