// Parses an SQS message body from the audit queue: an EventBridge rule target delivers the whole
// event envelope ({ id, time, source, detail-type, detail, ... }) as the body. `detail` stays
// unknown here: the audit validates it with ReceiptEventDetail.
import { EventEnvelopeError } from './errors.ts';

export interface EventBridgeEnvelope {
  /** EventBridge's event id (differs between a PutEvents and its archive replay). */
  readonly eventId: string;
  /** Epoch ms from the envelope's `time` (second precision). */
  readonly time: number;
  readonly source: string | undefined;
  readonly detailType: string | undefined;
  /** Set on events that an archive replay re-sent. */
  readonly replayName: string | undefined;
  readonly detail: unknown;
}

export function parseEventBridgeEnvelope(body: string): EventBridgeEnvelope {
  let parsed: unknown;
  try {
    // A reviver that drops __proto__ keys: the body comes from a queue, not from us.
    parsed = JSON.parse(body, (key, value: unknown) => (key === '__proto__' ? undefined : value));
  } catch (err) {
    throw new EventEnvelopeError('the message body is not JSON', err);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EventEnvelopeError('the message body is not an EventBridge event object');
  }
  const o = parsed as Record<string, unknown>;
  if (typeof o.id !== 'string' || o.id === '') {
    throw new EventEnvelopeError('the event has no id');
  }
  if (typeof o.time !== 'string' || Number.isNaN(Date.parse(o.time))) {
    throw new EventEnvelopeError('the event has no valid time');
  }
  if (!('detail' in o)) throw new EventEnvelopeError('the event has no detail');
  return {
    eventId: o.id,
    time: Date.parse(o.time),
    source: typeof o.source === 'string' ? o.source : undefined,
    detailType: typeof o['detail-type'] === 'string' ? o['detail-type'] : undefined,
    replayName: typeof o['replay-name'] === 'string' ? o['replay-name'] : undefined,
    detail: o.detail,
  };
}
