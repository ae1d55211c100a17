// Shared by the signing package's tests: the `code` of what a call throws.
import { errorCodeOf } from '@countersign/contracts';

/** Runs `p` (or calls it) and returns the error's code; fails when it does not throw. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return String(errorCodeOf(err));
  }
  throw new Error('expected an error');
}
