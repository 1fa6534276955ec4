/**
 * The agent's own Prometheus metrics, served with the dashboard's at `/metrics`: this member's
 * view of the Raft configuration (voters, learners), its log progress, and the autopilot's
 * membership changes. Read at scrape time, so they never go stale.
 */
import { Gauge, Registry } from 'prom-client';

/** What the metrics read: a `RaftNode` and the autopilot have it. */
export interface AgentMetricsSources {
  /** Raft status. */
  readonly raft: {
    status(): {
      readonly commitIndex: number;
      readonly appliedIndex: number;
      readonly members: readonly { readonly voter: boolean }[];
    };
  };
  /** Membership changes the autopilot made on this node. */
  readonly autopilotChanges: () => number;
}

/** A registry with the agent's metrics. */
export function agentMetrics(sources: AgentMetricsSources): Registry {
  const registry = new Registry();
  const registers = [registry];
  const members = (voter: boolean): number =>
    sources.raft.status().members.filter((m) => m.voter === voter).length;
  new Gauge({
    name: 'clusteros_raft_voters',
    help: 'Voters in the Raft configuration, as this member knows it.',
    registers,
    collect() {
      this.set(members(true));
    },
  });
  new Gauge({
    name: 'clusteros_raft_learners',
    help: 'Learners (non-voting members) in the Raft configuration, as this member knows it.',
    registers,
    collect() {
      this.set(members(false));
    },
  });
  new Gauge({
    name: 'clusteros_raft_commit_index',
    help: 'Highest Raft log index this member knows to be committed.',
    registers,
    collect() {
      this.set(sources.raft.status().commitIndex);
    },
  });
  new Gauge({
    name: 'clusteros_raft_applied_index',
    help: 'Highest Raft log index applied to the state machine on this member.',
    registers,
    collect() {
      this.set(sources.raft.status().appliedIndex);
    },
  });
  new Gauge({
    name: 'clusteros_raft_autopilot_changes',
    help: 'Raft membership changes (learners added, promotions, removals) made by this node as leader since it started.',
    registers,
    collect() {
      this.set(sources.autopilotChanges());
    },
  });
  return registry;
}
