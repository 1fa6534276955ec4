// Awaiting a promise inside a simulation needs someone to move simulated time: `drive` runs the
// cluster (checking its invariants after every event) until the promise settles, then returns
// its value or throws its error. Bounded by `limitMs` of simulated time.
import type { RolesCluster } from './roles-cluster.js';

export async function drive<T>(
  c: RolesCluster,
  promise: Promise<T>,
  limitMs: number,
  what: string,
): Promise<T> {
  let settled: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then(
    (value) => {
      settled = { ok: true, value };
    },
    (error: unknown) => {
      settled = { ok: false, error };
    },
  );
  await c.waitFor(() => settled !== undefined, limitMs, what);
  const result = settled;
  if (result === undefined) throw new Error(`${what}: did not settle`);
  if (!result.ok) throw result.error;
  return result.value;
}
