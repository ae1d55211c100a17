import { describe, expect, it } from 'vitest';
import { parseEventBridgeEnvelope } from './eventbridge-envelope.ts';

const event = {
  version: '0',
  id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  'detail-type': 'TransactionReceipt',
  source: 'countersign.gateway',
  account: '123456789012',
  time: '2026-11-25T15:00:01Z',
  region: 'us-east-1',
  resources: [],
  detail: { receipt: 'a.b.c', request: null, messageId: 'm1' },
};

describe('parseEventBridgeEnvelope', () => {
  it('extracts id, time and the unvalidated detail', () => {
    expect(parseEventBridgeEnvelope(JSON.stringify(event))).toEqual({
      eventId: event.id,
      time: Date.parse('2026-11-25T15:00:01Z'),
      source: 'countersign.gateway',
      detailType: 'TransactionReceipt',
      replayName: undefined,
      detail: event.detail,
    });
  });

  it('reports replayed events', () => {
    const got = parseEventBridgeEnvelope(JSON.stringify({ ...event, 'replay-name': 'r1' }));
    expect(got.replayName).toBe('r1');
  });

  it.each([
    ['not json', '{"id":'],
    ['an array', '[]'],
    ['no id', JSON.stringify({ ...event, id: undefined })],
    ['a bad time', JSON.stringify({ ...event, time: 'yesterday' })],
    ['no detail', JSON.stringify({ ...event, detail: undefined })],
  ])('rejects %s with MALFORMED', (_what, body) => {
    expect(() => parseEventBridgeEnvelope(body)).toThrow(
      expect.objectContaining({ code: 'MALFORMED', name: 'EventEnvelopeError' }),
    );
  });

  it('drops __proto__ keys', () => {
    const got = parseEventBridgeEnvelope(
      `{"id":"x","time":"2026-01-01T00:00:00Z","detail":{"__proto__":{"polluted":true},"a":1}}`,
    );
    expect(got.detail).toEqual({ a: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
