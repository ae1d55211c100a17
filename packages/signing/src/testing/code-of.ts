// Shared by the signing package's tests: the `code` of what a call throws.

/** Runs `p` (or calls it) and returns the error's code; fails when it does not throw. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  throw new Error('expected an error');
}
