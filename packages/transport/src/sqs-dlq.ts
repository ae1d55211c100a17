// The requests queue's SQS dead-letter queue, for the operator: found from the queue's
// RedrivePolicy, peeked at without taking anything (visibility 0), and redriven as a whole with
// a message move task (SQS has no per-message redrive; moving messages one by one would need a
// send + delete per message that a crash can split).
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { describeSdkError, queueError } from './errors.ts';

export interface SqsDeadLetterQueue {
  readonly sourceArn: string;
  readonly dlqArn: string;
  readonly dlqUrl: string;
}

export interface SqsDeadLetter {
  readonly messageId: string;
  readonly body: string;
  readonly groupId: string | undefined;
  /** SQS's count, which includes the receives on the DLQ (each peek adds one). */
  readonly receiveCount: number;
  readonly sentAt: number;
}

export interface SqsDeadLetterPeek {
  /** ApproximateNumberOfMessages of the DLQ (visible ones). */
  readonly approximateCount: number;
  /** Up to 10 of them (one receive; FIFO answers the oldest of a group first). */
  readonly messages: readonly SqsDeadLetter[];
}

async function sdk<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const info = describeSdkError(err);
    throw queueError(
      `SQS ${what} failed: ${info.code}`,
      { code: info.code, retryable: info.retryable, requestId: info.requestId },
      err,
    );
  }
}

/** The DLQ the redrive policy of `queueUrl` names; QUEUE_FAILED when it has none. */
export async function findSqsDeadLetterQueue(
  client: SQSClient,
  queueUrl: string,
): Promise<SqsDeadLetterQueue> {
  const attrs = await sdk('GetQueueAttributes', () =>
    client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['QueueArn', 'RedrivePolicy'],
      }),
    ),
  );
  const sourceArn = attrs.Attributes?.QueueArn;
  const policy = attrs.Attributes?.RedrivePolicy;
  let dlqArn: unknown;
  try {
    dlqArn = policy
      ? (JSON.parse(policy) as { deadLetterTargetArn?: unknown }).deadLetterTargetArn
      : undefined;
  } catch {
    dlqArn = undefined;
  }
  if (!sourceArn || typeof dlqArn !== 'string') {
    throw queueError('the queue has no redrive policy naming a dead-letter queue', {
      queue: queueUrl,
      retryable: false,
    });
  }
  // arn:aws:sqs:<region>:<account>:<name>
  const [, , , , account, name] = dlqArn.split(':');
  if (!account || !name) {
    throw queueError('the redrive policy names no SQS queue ARN', {
      queue: queueUrl,
      retryable: false,
    });
  }
  const url = await sdk('GetQueueUrl', () =>
    client.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account })),
  );
  if (!url.QueueUrl) throw queueError('SQS GetQueueUrl answered without a URL', { queue: name });
  return { sourceArn, dlqArn, dlqUrl: url.QueueUrl };
}

/** How many dead letters there are, and a look at up to 10 (nothing is deleted or hidden). */
export async function peekSqsDeadLetters(
  client: SQSClient,
  dlq: SqsDeadLetterQueue,
): Promise<SqsDeadLetterPeek> {
  const attrs = await sdk('GetQueueAttributes', () =>
    client.send(
      new GetQueueAttributesCommand({
        QueueUrl: dlq.dlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    ),
  );
  const got = await sdk('ReceiveMessage', () =>
    client.send(
      new ReceiveMessageCommand({
        QueueUrl: dlq.dlqUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 0, // a peek: the messages stay visible
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp', 'MessageGroupId'],
      }),
    ),
  );
  const seen = new Set<string>();
  const messages = (got.Messages ?? []).flatMap((m): SqsDeadLetter[] => {
    if (!m.MessageId || seen.has(m.MessageId)) return [];
    seen.add(m.MessageId);
    const a = m.Attributes ?? {};
    return [
      {
        messageId: m.MessageId,
        body: m.Body ?? '',
        groupId: a.MessageGroupId,
        receiveCount: Number(a.ApproximateReceiveCount) || 0,
        sentAt: Number(a.SentTimestamp) || 0,
      },
    ];
  });
  return {
    approximateCount: Number(attrs.Attributes?.ApproximateNumberOfMessages) || 0,
    messages,
  };
}

/** Starts moving every dead letter back to the source queue; SQS does it in the background. */
export async function startSqsRedrive(
  client: SQSClient,
  dlq: SqsDeadLetterQueue,
): Promise<{ readonly taskHandle: string }> {
  const out = await sdk('StartMessageMoveTask', () =>
    client.send(
      new StartMessageMoveTaskCommand({ SourceArn: dlq.dlqArn, DestinationArn: dlq.sourceArn }),
    ),
  );
  return { taskHandle: out.TaskHandle ?? '' };
}
