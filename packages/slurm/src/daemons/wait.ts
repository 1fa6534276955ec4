/** Thrown by a check to end a wait at once (e.g. the daemon being waited for has exited). */
export class WaitAbortedError extends Error {
  /** Always `'WaitAbortedError'`. */
  override readonly name = 'WaitAbortedError';
}

/**
 * Polls `check` until it yields a value, at most `limitMs`; every wait in this folder is bounded.
 * A check that throws is retried, unless it throws {@link WaitAbortedError}.
 */
export async function waitUntil<T>(
  what: string,
  limitMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof WaitAbortedError) throw new Error(`${what}: ${error.message}`);
      last = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  const why = last instanceof Error ? ` (last: ${last.message})` : '';
  throw new Error(`${what}: not within ${limitMs} ms${why}`);
}
