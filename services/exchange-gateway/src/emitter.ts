// Emitting receipts: sign at the stream's head and store it together with the head advance
// (chain writer: one atomic complete), then publish, then note it for checkpoints. Re-publishing
// a stored receipt answers a redelivery without a new seq. Every new receipt (first answers,
// last words, UNKNOWN follow-ups from a redelivery or the periodic pass) is counted here, once.
import type { ReasonCode, ReceiptClaims } from '@countersign/contracts';
import { noopMetrics, type Metrics } from '@countersign/observability';
import type { StoredReceipt } from '@countersign/replay-guard';
import type { ChainWriter } from './chain.ts';
import type { Checkpointer } from './checkpoints.ts';
import type { ProcessResult } from './pipeline.ts';
import type { Logger } from './ports.ts';
import { readOwnReceipt, type ReceiptDraft } from './receipts.ts';

export type Deleted = ProcessResult & { readonly action: 'delete' };
export type Emitted = Deleted & { readonly receipt: ReceiptClaims };

export interface ReceiptEmitter {
  /** Signs, stores (atomically with the chain head) under `key`, publishes. */
  emit(
    key: string,
    stream: string,
    draft: ReceiptDraft,
    request: string | null,
    expiresAt: number,
  ): Promise<Emitted>;
  /** Publishes a stored receipt again; the result names it. */
  republish(stored: StoredReceipt): Promise<Deleted>;
}

export function republishedResult(stored: StoredReceipt): Deleted {
  const claims = readOwnReceipt(stored.receipt);
  return {
    action: 'delete',
    receiptId: claims.jti,
    outcome: claims.outcome,
    ...(claims.reason ? { reason: claims.reason as ReasonCode } : {}),
    republished: true,
  };
}

export function createReceiptEmitter(o: {
  readonly chain: ChainWriter;
  readonly publish: (stored: StoredReceipt) => Promise<void>;
  readonly checkpointer: Checkpointer | undefined;
  readonly logger: Logger;
  readonly metrics?: Metrics | undefined;
}): ReceiptEmitter {
  const metrics = o.metrics ?? noopMetrics;
  return {
    async emit(key, stream, draft, request, expiresAt) {
      const appended = await o.chain.append({ key, stream, draft, request, expiresAt });
      await o.publish(appended.stored);
      await o.checkpointer?.noteAppended(appended.head);
      metrics.count('receipts_total', { outcome: draft.outcome, reason: draft.reason ?? 'NONE' });
      o.logger.info(
        {
          messageId: draft.messageId,
          receiptId: appended.claims.jti,
          outcome: draft.outcome,
          reason: draft.reason,
          stream,
          seq: appended.claims.seq,
        },
        'receipt',
      );
      return {
        action: 'delete',
        receiptId: appended.claims.jti,
        outcome: draft.outcome,
        ...(draft.reason ? { reason: draft.reason } : {}),
        republished: false,
        receipt: appended.claims,
      };
    },
    async republish(stored) {
      await o.publish(stored);
      return republishedResult(stored);
    },
  };
}
