import { isVoterIn, membersOf } from './confchange.js';
import { Progress } from './progress.js';
import { jointCommitted, jointVote, UNBOUNDED_INDEX, type VoteResult } from './quorum.js';
import { type ConfState, EMPTY_CONF, type NodeId } from './types.js';

/**
 * The configuration in force plus what is tracked per member: replication progress (used by
 * the leader) and votes (used by candidates). Quorum questions are answered here so that joint
 * configs are handled in one place.
 */
export class ProgressTracker {
  #conf: ConfState = EMPTY_CONF;
  readonly #progress = new Map<NodeId, Progress>();
  readonly #votes = new Map<NodeId, boolean>();
  readonly #maxInflight: number;

  /** Creates a tracker whose progress windows hold `maxInflight` messages. */
  constructor(maxInflight: number) {
    this.#maxInflight = maxInflight;
  }

  /** The configuration in force. */
  get conf(): ConfState {
    return this.#conf;
  }

  /**
   * Switches to `conf`: members that joined get a fresh progress (next = `lastIndex + 1`),
   * members that left lose theirs, and a member's learner flag follows the new config.
   */
  setConf(conf: ConfState, lastIndex: number): void {
    this.#conf = conf;
    const members = new Set(membersOf(conf));
    for (const id of [...this.#progress.keys()]) if (!members.has(id)) this.#progress.delete(id);
    for (const id of members) {
      const learner = !isVoterIn(conf, id);
      const existing = this.#progress.get(id);
      if (existing !== undefined) {
        existing.isLearner = learner;
        continue;
      }
      const pr = new Progress(lastIndex + 1, this.#maxInflight, learner);
      // A new member has not had a chance to answer yet: do not count it as dead at once.
      pr.recentActive = true;
      this.#progress.set(id, pr);
    }
  }

  /** The progress of `id`, if it is a member. */
  progress(id: NodeId): Progress | undefined {
    return this.#progress.get(id);
  }

  /** Every member's progress. */
  entries(): IterableIterator<[NodeId, Progress]> {
    return this.#progress.entries();
  }

  /** True when `id` is a voter of either half. */
  isVoter(id: NodeId): boolean {
    return isVoterIn(this.#conf, id);
  }

  /** Voters of both halves, without duplicates. */
  voters(): NodeId[] {
    return [...new Set([...this.#conf.voters, ...this.#conf.votersOutgoing])];
  }

  /** True when `id` alone is a quorum: the only voter of a non-joint config. */
  isSingleton(id: NodeId): boolean {
    const voters = this.voters();
    return voters.length === 1 && voters[0] === id;
  }

  /** The highest index stored on a quorum (0 when there are no voters). */
  committed(): number {
    const index = jointCommitted(
      this.#conf.voters,
      this.#conf.votersOutgoing,
      (id) => this.#progress.get(id)?.match,
    );
    return index === UNBOUNDED_INDEX ? 0 : index;
  }

  /** Whether the members for which `agrees(id)` holds form a quorum. */
  isQuorum(agrees: (id: NodeId) => boolean): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const id of this.voters()) votes.set(id, agrees(id));
    return jointVote(this.#conf.voters, this.#conf.votersOutgoing, votes) === 'won';
  }

  /** True when a quorum of voters was recently active (`self` always counts). */
  quorumActive(self: NodeId): boolean {
    return this.isQuorum((id) => id === self || this.#progress.get(id)?.recentActive === true);
  }

  /** Forgets every vote. */
  resetVotes(): void {
    this.#votes.clear();
  }

  /** Records `id`'s vote (the first answer counts; duplicates are ignored). */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.#votes.has(id)) this.#votes.set(id, granted);
  }

  /** Counts the recorded votes. */
  tallyVotes(): { readonly granted: number; readonly rejected: number; readonly result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const vote of this.#votes.values()) {
      if (vote) granted++;
      else rejected++;
    }
    return {
      granted,
      rejected,
      result: jointVote(this.#conf.voters, this.#conf.votersOutgoing, this.#votes),
    };
  }
}
