// Metrics and spans of the gateway, as decorators around its ports and its Processor, so the
// pipeline's rules (decide.ts, executor.ts) stay free of them. A message's span continues the
// trace its sender put beside the token (SQS message attributes, the embedded queue's column);
// the verify, claim, execute (exchange place), sign, complete and publish spans nest under it.
import { performance } from 'node:perf_hooks';
import { errorCodeOf, type Clock } from '@countersign/contracts';
import { extractTrace, traced, withSpan, type Metrics } from '@countersign/observability';
import type { NonceStore } from '@countersign/replay-guard';
import type { Processor } from './pipeline.ts';

/** Counts claims that found the nonce taken and completes that lost the stream head. */
export function observeNonceStore(
  store: NonceStore,
  metrics: Metrics,
  tracing: boolean,
): NonceStore {
  const counted = Object.create(store) as NonceStore;
  counted.claim = async (key, options) => {
    const result = await store.claim(key, options);
    if (!result.claimed) metrics.count('nonce_conflicts_total', { found: result.existing.state });
    return result;
  };
  counted.complete = async (key, options) => {
    try {
      await store.complete(key, options);
    } catch (err) {
      if (errorCodeOf(err) === 'CHAIN_CONFLICT') metrics.count('chain_conflicts_total', {});
      throw err;
    }
  };
  return traced(counted, 'gateway.nonce', ['claim', 'complete'], tracing);
}

/** Time per message, queue age, messages left, and one span per message. */
export function observeProcessor(
  processor: Processor,
  options: { readonly metrics: Metrics; readonly clock: Clock },
): Processor {
  const { metrics, clock } = options;
  return {
    ...processor,
    process(message) {
      if (message.sentAt > 0) {
        metrics.observe('queue_age_seconds', {}, Math.max(0, clock.now() - message.sentAt) / 1000);
      }
      return withSpan(
        'gateway.process',
        {
          'messaging.message.id': message.messageId,
          'countersign.receive_count': message.receiveCount,
        },
        async (span) => {
          const started = performance.now();
          const result = await processor.process(message);
          if (result.action === 'leave') {
            metrics.count('messages_left_total', { why: result.why });
            span.setAttribute('countersign.left', result.why);
            return result;
          }
          span.setAttribute('countersign.outcome', result.outcome);
          if (result.reason) span.setAttribute('countersign.reason', result.reason);
          // A re-published stored receipt is not a new one (new ones are counted by the emitter).
          if (!result.republished) {
            metrics.observe(
              'process_seconds',
              { outcome: result.outcome },
              (performance.now() - started) / 1000,
            );
          }
          return result;
        },
        extractTrace(message.trace),
      );
    },
  };
}
