/** Counters of a `RaftCore`, for status pages, tests and simulations. */
export interface RaftCoreStats {
  /** Messages (or proposals) dropped, by reason: `malformed`, `staleTerm`, `unknownSender`, `leaderSticky`, ... */
  readonly dropped: Record<string, number>;
  /** Real elections this member started (became candidate). */
  readonly elections: number;
  /** PreVote rounds this member started. */
  readonly preElections: number;
  /** Times this member became leader. */
  readonly leaderships: number;
  /** Times the leader stepped down because it had lost contact with a quorum. */
  readonly checkQuorumStepDowns: number;
  /** Snapshots sent to followers. */
  readonly snapshotsSent: number;
  /** Snapshots received from a leader that replaced the log. */
  readonly snapshotsRestored: number;
  /** Leadership transfers started here. */
  readonly transfersStarted: number;
  /** Leadership transfers abandoned by the leader (timeout, target removed, replaced by another transfer). */
  readonly transfersAborted: number;
  /** Transfers this leader handed over: target caught up, told to campaign, voted for, leadership given up. */
  readonly transfersHandedOver: number;
  /**
   * Conditional `timeoutNow` messages this leader sent a transfer target as soon as its whole log
   * was on the way there, before the target acknowledged it (see `RaftCore.transferLeadership`).
   */
  readonly earlyTimeoutNows: number;
  /** Reads answered from the leader lease without a heartbeat round. */
  readonly leaseReads: number;
}

/** {@link RaftCoreStats} as the core updates it. */
export type MutableRaftCoreStats = { -readonly [K in keyof RaftCoreStats]: RaftCoreStats[K] };

/** Fresh, zeroed counters. */
export function createStats(): MutableRaftCoreStats {
  return {
    dropped: {},
    elections: 0,
    preElections: 0,
    leaderships: 0,
    checkQuorumStepDowns: 0,
    snapshotsSent: 0,
    snapshotsRestored: 0,
    transfersStarted: 0,
    transfersAborted: 0,
    transfersHandedOver: 0,
    earlyTimeoutNows: 0,
    leaseReads: 0,
  };
}
