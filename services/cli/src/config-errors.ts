// One place that turns a configuration error into one line per bad field and exit code 2.
import { isCountersignError, type FieldIssue } from '@countersign/contracts';

export const BAD_CONFIG_EXIT = 2;

export function configFailure(
  prefix: string,
  err: unknown,
  stderr: { write(text: string): unknown } = process.stderr,
): number {
  if (!isCountersignError(err) || err.code !== 'CONFIG_INVALID') throw err;
  const issues = (err as { issues?: readonly FieldIssue[] }).issues ?? [];
  for (const i of issues) stderr.write(`${prefix}: ${i.path}: ${i.message}\n`);
  if (issues.length === 0) stderr.write(`${prefix}: ${err.message}\n`);
  return BAD_CONFIG_EXIT;
}
