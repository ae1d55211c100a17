// Lambda entry of the requester's receipts consumer (aws mode): SQS events of the requester's own
// receipts queue, which its EventBridge rule on the receipt bus feeds. Each receipt is verified
// with the gateway's KMS public key and stored by request jti in the requester's table (`txn#`
// items), where GET /v1/transactions/{jti} reads it. A batch that could not be stored (keys or
// table unavailable) is reported as item failures: retried, then the queue's DLQ.
// Built on the first invocation, never at module load; configuration from the environment.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { pino, type Logger } from 'pino';
import { loadConfig } from '@countersign/contracts';
import { receiptQueueBatch } from './receipt-consumers.ts';
import type { ReceiptIntake } from './receipt-intake.ts';
import { createReceiptsFromConfig, createTransactionStoreFromConfig } from './receipts-wiring.ts';

interface Consumer {
  readonly intake: ReceiptIntake;
  readonly logger: Logger;
}

let consumer: Promise<Consumer> | undefined;

function init(): Promise<Consumer> {
  consumer ??= Promise.resolve()
    .then(() => {
      const config = loadConfig(process.env, 'receipts');
      const logger = pino({ level: config.logLevel, base: { service: 'requester-receipts' } });
      const store = createTransactionStoreFromConfig(config);
      return { intake: createReceiptsFromConfig(config, store, logger).intake, logger };
    })
    .catch((err: unknown) => {
      consumer = undefined; // the next invocation tries again
      throw err;
    });
  return consumer;
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const { intake, logger } = await init();
  const { failed, result } = await receiptQueueBatch(
    intake,
    event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
    logger,
  );
  if (result) logger.info(result, 'receipts');
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
}
