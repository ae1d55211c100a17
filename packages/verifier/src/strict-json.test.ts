import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseStrictJson } from './strict-json.ts';

describe('parseStrictJson', () => {
  it('accepts plain JSON, including colons and escaped quotes inside strings', () => {
    for (const text of [
      '{}',
      '{"a":1}',
      '{"a":"x:y","b":"\\":\\"","c":[{"d":":"}]}',
      '[1,2]',
      '"s"',
      '{"a":{"a":{"a":1}}}',
    ]) {
      expect(parseStrictJson(text)).toEqual({ ok: true, value: JSON.parse(text) });
    }
  });

  it('rejects duplicate members at any depth and __proto__', () => {
    for (const text of [
      '{"a":1,"a":2}',
      '{"a":1,"b":{"c":1,"c":1}}',
      '{"a":"x:y","a":"x:y"}',
      '[{"k":1,"k":1}]',
      '{"a":1,"\\u0061":2}',
    ]) {
      expect(parseStrictJson(text)).toEqual({ ok: false, reason: 'duplicate member names' });
    }
    expect(parseStrictJson('{"__proto__":{"x":1}}')).toEqual({
      ok: false,
      reason: 'contains a "__proto__" member',
    });
    expect(parseStrictJson('{"a":[{"__proto__":1}]}')).toMatchObject({ ok: false });
    expect(parseStrictJson('{')).toEqual({ ok: false, reason: 'not valid JSON' });
  });

  it('agrees with a reference duplicate check on random objects', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.constantFrom('a', 'b', 'c:', '"', 'd\\'), fc.jsonValue({ maxDepth: 2 })),
          { maxLength: 5 },
        ),
        (members) => {
          const text = `{${members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
          const keys = members.map(([k]) => k);
          const hasDup = new Set(keys).size !== keys.length;
          // A `__proto__` member name anywhere (a string value that says "__proto__" is fine).
          let protoKey = false;
          JSON.parse(text, (k, v: unknown) => {
            if (k === '__proto__') protoKey = true;
            return v;
          });
          const res = parseStrictJson(text);
          expect(res.ok).toBe(!hasDup && !protoKey);
        },
      ),
      { numRuns: 500 },
    );
  });
});
