import { describe, expect, it } from 'vitest';
import { StreamId } from './claims.ts';
import { STREAM } from './ids.ts';
import {
  checkpointIndexOfKey,
  checkpointObjectKey,
  gatewayOf,
  MAX_CHECKPOINT_INDEX,
  streamOf,
} from './protocol.ts';

describe('stream names: one pattern for the builder, the claims schema and the checkpoint keys', () => {
  const longest = 'g'.repeat(64);
  it('every stream streamOf builds is a valid stream claim and round-trips', () => {
    for (const [id, p] of [
      ['demo-gateway', 0],
      [longest, 9999],
      ['a.b:c_d-e', 17],
    ] as const) {
      const stream = streamOf(id, p);
      expect(STREAM.test(stream)).toBe(true);
      expect(StreamId.safeParse(stream).success).toBe(true);
      expect(gatewayOf(stream)).toBe(id);
      for (const index of [0, 1, MAX_CHECKPOINT_INDEX]) {
        expect(checkpointIndexOfKey(checkpointObjectKey(stream, index))).toBe(index);
      }
    }
  });

  it('what the pattern refuses, the schema and the checkpoint keys refuse too', () => {
    for (const stream of [
      streamOf(`${longest}g`, 0),
      streamOf('gw', 10_000),
      'gw',
      'gw/x',
      'a/b/1',
    ]) {
      expect(STREAM.test(stream)).toBe(false);
      expect(StreamId.safeParse(stream).success).toBe(false);
      expect(checkpointIndexOfKey(checkpointObjectKey(stream, 1))).toBeUndefined();
    }
  });
});
