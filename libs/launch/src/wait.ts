/**
 * Bounded polling for integration tests that wait on real processes: polls `check` until it returns a value other
 * than `undefined`/`false`, or fails after `timeoutMs` with `what` in the message. Not a sleep on a timeout: it
 * waits for a condition, with a bound.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  {
    timeoutMs = 10_000,
    intervalMs = 25,
    rethrow,
  }: {
    timeoutMs?: number;
    intervalMs?: number;
    /** An error `check` throws that this accepts ends the wait at once (others are retried until the bound). */
    rethrow?: (err: unknown) => boolean;
  } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      if (rethrow?.(err)) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
