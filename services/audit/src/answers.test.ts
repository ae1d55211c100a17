// AnswerTable edge cases the property test cannot reach through SHA-256: an all-zero key (0 is
// not the empty marker: the value is), keys that share their first 32 or 64 bits (one home
// slot, told apart by the later words), probe chains that wrap past the last slot, and doublings
// that keep all of it.
import { describe, expect, it } from 'vitest';
import { AnswerTable } from './answers.ts';

describe('AnswerTable', () => {
  it('stores an all-zero key like any other', () => {
    const t = new AnswerTable(8);
    expect(t.getOrSet(0, 0, 0, 5)).toBeUndefined();
    expect(t.getOrSet(0, 0, 0, 7)).toBe(5);
    expect(t.getOrSet(0, 0, 1, 9)).toBeUndefined();
    expect(t.getOrSet(0, 0, 0, 11)).toBe(5);
    expect(t.size).toBe(2);
  });

  it('tells keys apart that differ only in the second or third word', () => {
    const t = new AnswerTable(8);
    const k0 = 0xdeadbeef;
    expect(t.getOrSet(k0, 1, 2, 1)).toBeUndefined();
    expect(t.getOrSet(k0, 1, 0x80000002, 2)).toBeUndefined();
    expect(t.getOrSet(k0, 0x80000001, 2, 3)).toBeUndefined();
    expect(t.getOrSet(k0, 1, 2, 4)).toBe(1);
    expect(t.getOrSet(k0, 1, 0x80000002, 4)).toBe(2);
    expect(t.getOrSet(k0, 0x80000001, 2, 4)).toBe(3);
    expect(t.size).toBe(3);
  });

  it('wraps a probe chain past the last slot and keeps every key through doublings', () => {
    const t = new AnswerTable(8);
    // All of these start at the last slot of an 8-slot table (low bits 111), then spread as the
    // table doubles; the later words make 0xffffffff collide in every size.
    const keys: [number, number, number][] = [];
    for (let i = 0; i < 200; i++) keys.push([i % 2 ? 0xffffffff : (i << 3) | 7, i, i * 7]);
    keys.forEach(([a, b, c], i) => {
      expect(t.getOrSet(a, b, c, i + 1)).toBeUndefined();
      expect(t.size).toBe(i + 1);
      expect(t.size).toBeLessThanOrEqual(t.slots * 0.7);
    });
    expect(t.slots).toBe(512);
    keys.forEach(([a, b, c], i) => expect(t.getOrSet(a, b, c, 1e6)).toBe(i + 1));
    expect(t.size).toBe(200);
  });

  it('grows at a load of 0.7, not before', () => {
    const t = new AnswerTable(16);
    for (let i = 1; i <= 11; i++) t.getOrSet(i, 0, 0, i);
    expect(t.slots).toBe(16);
    t.getOrSet(12, 0, 0, 12);
    expect(t.slots).toBe(32);
  });

  it('refuses a value that would read as an empty slot', () => {
    const t = new AnswerTable(8);
    expect(() => t.getOrSet(1, 2, 3, 0)).toThrow(RangeError);
    expect(t.getOrSet(1, 2, 3, 4)).toBeUndefined();
  });
});
