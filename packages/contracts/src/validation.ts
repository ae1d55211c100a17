// Turns zod issues into field paths people can act on: `Records[3].body.txn.quantity: ...`.
import type { z } from 'zod';

export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

export function fieldIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  return error.issues.map((i) => ({ path: formatPath(i.path, prefix), message: i.message }));
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

export function safeParse<T>(schema: z.ZodType<T>, input: unknown, prefix = ''): Parsed<T> {
  const res = schema.safeParse(input);
  return res.success
    ? { ok: true, value: res.data }
    : { ok: false, issues: fieldIssues(res.error, prefix) };
}
