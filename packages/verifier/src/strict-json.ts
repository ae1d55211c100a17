// JSON for untrusted token segments: JSON.parse, then reject what it silently tolerates.
// Duplicate member names: JSON.parse keeps the last one, so a text with more members than the
// parsed objects have keys had a duplicate (in valid JSON, every ':' outside a string separates
// exactly one member). `__proto__` members are rejected outright.

export type StrictJsonResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

function countMembersInText(text: string): number {
  let members = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 58 /* : */) members++;
  }
  return members;
}

function countColons(text: string): number {
  let n = 0;
  for (let i = text.indexOf(':'); i !== -1; i = text.indexOf(':', i + 1)) n++;
  return n;
}

/** Counts own keys of all objects in the tree; -1 when a `__proto__` key is found. */
function countMembersInValue(root: unknown): number {
  let members = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    for (const key in v) {
      if (key === '__proto__') return -1;
      members++;
      stack.push((v as Record<string, unknown>)[key]);
    }
  }
  return members;
}

/**
 * Whether `text` has exactly `members` object members: a parse of it whose objects have that
 * many keys in all had no duplicate member name.
 */
export function hasMemberCount(text: string, members: number): boolean {
  // Fast path: colons anywhere ≥ members in the text; equal means no duplicate and no colon
  // inside a string. Otherwise count exactly, skipping strings.
  return members === countColons(text) || members === countMembersInText(text);
}

/** What is wrong with `value`, the JSON.parse of `text`, for strict JSON; undefined if nothing. */
export function strictJsonProblem(text: string, value: unknown): string | undefined {
  const parsed = countMembersInValue(value);
  if (parsed === -1) return 'contains a "__proto__" member';
  return hasMemberCount(text, parsed) ? undefined : 'duplicate member names';
}

export function parseStrictJson(text: string): StrictJsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  const reason = strictJsonProblem(text, value);
  return reason === undefined ? { ok: true, value } : { ok: false, reason };
}
