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

export function parseStrictJson(text: string): StrictJsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  const parsed = countMembersInValue(value);
  if (parsed === -1) return { ok: false, reason: 'contains a "__proto__" member' };
  // Fast path: colons anywhere ≥ members in the text; equal means no duplicate and no colon
  // inside a string. Otherwise count exactly, skipping strings.
  if (parsed !== countColons(text) && parsed !== countMembersInText(text)) {
    return { ok: false, reason: 'duplicate member names' };
  }
  return { ok: true, value };
}
