// Bounded polling for the tests and benchmarks that drive real processes.

/** Thrown by a check to end a wait at once: what it waits for can no longer happen. */
export class GiveUp extends Error {}

/** An agent process ended: no wait can succeed any more. */
export class AgentExited extends GiveUp {}

/** Polls `check` until it yields a value, at most `limitMs`; a {@link GiveUp} ends it at once. */
export async function until<T>(
  what: string,
  limitMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`${what}: not within ${limitMs} ms${last === undefined ? '' : ` (last: ${String(last)})`}`);
}
