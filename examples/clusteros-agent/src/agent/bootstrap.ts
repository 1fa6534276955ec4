/**
 * Whether a node with an empty data dir founds a new Raft cluster or waits to be added to one.
 *
 * Founding twice splits the cluster for good (two Raft clusters never merge by themselves), so
 * the rule is conservative:
 * - if any member of this cluster (same fingerprint) already has Raft state, join it;
 * - if seeds are configured, none of them is this node, and no other node answered, keep
 *   retrying the seeds (a node whose seed is down must not found a cluster of its own);
 * - after gossip has had `settleMs` to converge, the fresh member with the smallest name founds
 *   the cluster; the others wait for it and then join.
 *
 * Two groups that cannot see each other at all can still each found a cluster (e.g. two tailnet
 * nodes started at once with no seeds): noticing and merging such clusters is the merge
 * package's job.
 */

/** A gossip member as the decision needs it. */
export interface BootstrapMember {
  /** Node id (gossip name). */
  readonly id: string;
  /** Whether it advertises Raft state. */
  readonly raftState: 'fresh' | 'member' | undefined;
  /** Its Raft address, if advertised. */
  readonly raftAddress: string | undefined;
}

/** The inputs of {@link decideStart}. */
export interface BootstrapInput {
  /** This node's id. */
  readonly self: string;
  /** Alive members of this cluster, this node excluded. */
  readonly others: readonly BootstrapMember[];
  /** Seeds configured (`network.seeds`), this node excluded; tailnet peers do not count. */
  readonly seeds: number;
  /** Whether one of the configured seeds is this node itself. */
  readonly selfIsSeed: boolean;
  /** Whether gossip has had its settle time since the join. */
  readonly settled: boolean;
}

/** What to do now. */
export type StartDecision =
  | { readonly kind: 'join'; readonly hints: Readonly<Record<string, string>> }
  | { readonly kind: 'bootstrap' }
  | { readonly kind: 'wait'; readonly reason: string };

/** Applies the rule in the module comment. */
export function decideStart(input: BootstrapInput): StartDecision {
  const members = input.others.filter((m) => m.raftState === 'member' && m.raftAddress !== undefined);
  if (members.length > 0) {
    const hints: Record<string, string> = {};
    for (const m of members) hints[m.id] = m.raftAddress as string;
    return { kind: 'join', hints };
  }
  if (input.seeds > 0 && !input.selfIsSeed && input.others.length === 0)
    return { kind: 'wait', reason: 'no seed has answered yet' };
  if (!input.settled) return { kind: 'wait', reason: 'letting gossip settle before founding a cluster' };
  const smaller = input.others
    .filter((m) => m.raftState === 'fresh' && m.id < input.self)
    .map((m) => m.id)
    .sort();
  if (smaller.length > 0)
    return { kind: 'wait', reason: `waiting for ${smaller[0]} (smallest name) to found the cluster` };
  return { kind: 'bootstrap' };
}
