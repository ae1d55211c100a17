// The SHA-256 (hex) of a body's canonical JSON: equal bodies hash equal, whatever their key
// order or spacing. Used to recognise an idempotent retry.
import { createHash } from 'node:crypto';
import { canonicalJson } from '@countersign/contracts';

export { canonicalJson };

export function canonicalSha256(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest('hex');
}
