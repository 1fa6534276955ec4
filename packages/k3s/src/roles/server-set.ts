/**
 * Which nodes run `k3s server`, as the primary plans it (pure). It only ever adds: a listed
 * server that is down keeps its place (its etcd member still exists and it comes back on its
 * data); servers leave the set only through a handoff, which removes their member first.
 */
import type { K3sServerEntry } from './store.js';

/** The server counts k3s supports with embedded etcd: odd, so that quorum survives a failure. */
export type K3sServerCount = 1 | 3 | 5;

/** Whether `value` is a supported server count. */
export function isK3sServerCount(value: unknown): value is K3sServerCount {
  return value === 1 || value === 3 || value === 5;
}

/**
 * The server set with `self` (the primary) first: the previous set, then candidates (already
 * ranked, best first) until `count` servers are listed.
 */
export function planServers(
  previous: readonly K3sServerEntry[],
  self: K3sServerEntry,
  candidates: readonly K3sServerEntry[],
  count: K3sServerCount,
): K3sServerEntry[] {
  const servers: K3sServerEntry[] = [self];
  for (const entry of previous) if (entry.node !== self.node) servers.push(entry);
  for (const candidate of candidates) {
    if (servers.length >= count) break;
    if (!servers.some((entry) => entry.node === candidate.node)) servers.push(candidate);
  }
  return servers;
}

/** Whether two server lists name the same nodes at the same addresses in the same order. */
export function sameServers(a: readonly K3sServerEntry[], b: readonly K3sServerEntry[]): boolean {
  return (
    a.length === b.length &&
    a.every((entry, i) => entry.node === b[i]?.node && entry.address === b[i]?.address)
  );
}
