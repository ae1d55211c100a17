// Token ids: 128 random bits, base64url without padding (22 characters), DESIGN.md §3.
import { randomBytes } from 'node:crypto';

export function newJti(): string {
  return randomBytes(16).toString('base64url');
}
