/**
 * Raft membership autopilot: on the Raft leader, keeps the voters in step with gossip.
 *
 * - A gossip member of this cluster (same fingerprint, with a Raft address) that is not in the
 *   Raft configuration is added as a learner: it receives the log but does not vote.
 * - A learner that has caught up is promoted while there are fewer voters than `raft.voters`.
 *   The count is kept odd (an even count tolerates no more failures than the odd count below it
 *   and needs a larger quorum), except on the way from one odd count to the next.
 * - A member that asked to leave (a record under {@link LEAVE_PREFIX}, written by its agent on
 *   SIGTERM when a learner can replace it) or that left the gossip pool gracefully: a learner is
 *   removed; a voter is removed once caught-up learners have been promoted in its place (the
 *   voters staying are as many as when it asked, or the target), so leaving never shrinks the
 *   fault tolerance below what the cluster had; without a replacement it stays (it may come
 *   back). Crashed
 *   members are kept: they may come back with their data dir, and removing them would need a
 *   quorum anyway.
 *
 * One change at a time (the Raft node refuses a second while one is pending). {@link planStep} is
 * pure, so the policy is tested without a cluster.
 */

/** Where leave requests live: `/clusteros/raft/leaving/<id>`. */
export const LEAVE_PREFIX = '/clusteros/raft/leaving/';

/** How far behind the leader's last index a learner may be and count as caught up. */
export const CAUGHT_UP_SLACK = 16;

/** One member of the Raft configuration, as the leader sees it. */
export interface ConfMember {
  /** Member id. */
  readonly id: string;
  /** Voter or learner. */
  readonly voter: boolean;
  /** Highest index known to be replicated to it. */
  readonly match: number;
}

/** A gossip member that could be in Raft. */
export interface Candidate {
  /** Node id (its gossip name). */
  readonly id: string;
  /** Its Raft transport address. */
  readonly raftAddress: string;
  /** Its gossip state. */
  readonly state: 'alive' | 'suspect' | 'dead' | 'left';
}

/** What the planner sees. */
export interface AutopilotInput {
  /** The leader's id. */
  readonly self: string;
  /** The configuration with replication progress. */
  readonly members: readonly ConfMember[];
  /** The leader's last log index. */
  readonly lastIndex: number;
  /** Gossip members of this cluster (same fingerprint) with a Raft address. */
  readonly candidates: readonly Candidate[];
  /** Ids that asked to leave. */
  readonly leaving: ReadonlySet<string>;
  /**
   * Ids among `leaving` whose request is older than the grace period: cleared even if the member
   * still shows alive in gossip (it came back, e.g. restarted for an upgrade).
   */
  readonly staleLeaves?: ReadonlySet<string>;
  /** How many voters there were when each member in `leaving` asked to leave, when known. */
  readonly votersAtLeave?: ReadonlyMap<string, number>;
  /** Target voter count (odd). */
  readonly targetVoters: number;
}

/** One membership change to make, or a leave record to clear. */
export type AutopilotStep =
  | { readonly kind: 'add-learner'; readonly id: string; readonly address: string }
  | { readonly kind: 'promote'; readonly id: string }
  | { readonly kind: 'remove'; readonly id: string }
  | { readonly kind: 'clear-leave'; readonly id: string };

/** The next step, or null when the configuration is where it should be. */
export function planStep(input: AutopilotInput): AutopilotStep | null {
  const inConf = new Map(input.members.map((m) => [m.id, m]));
  const gossip = new Map(input.candidates.map((c) => [c.id, c]));
  const departing = (id: string): boolean => input.leaving.has(id) || gossip.get(id)?.state === 'left';
  const caughtUp = (m: ConfMember): boolean => m.match + CAUGHT_UP_SLACK >= input.lastIndex;

  // Leave records of members already out of the configuration are done with once the member has
  // left gossip too (clearing earlier would let it be added straight back while it is still
  // finishing its shutdown), or once the record is stale (the member came back).
  for (const id of [...input.leaving].sort())
    if (!inConf.has(id) && (gossip.get(id)?.state !== 'alive' || input.staleLeaves?.has(id) === true))
      return { kind: 'clear-leave', id };

  // Departing learners go at once.
  for (const m of input.members)
    if (!m.voter && m.id !== input.self && departing(m.id)) return { kind: 'remove', id: m.id };

  const voters = input.members.filter((m) => m.voter);
  const staying = voters.filter((m) => !departing(m.id));
  const learners = input.members
    .filter((m) => !m.voter && !departing(m.id) && gossip.get(m.id)?.state === 'alive' && caughtUp(m))
    .sort((a, b) => (a.id < b.id ? -1 : 1));

  // A departing voter first gets a replacement, then is removed: once the voters staying are as
  // many as there were voters when it asked to leave (or as the target, if smaller). Without a
  // request (it only left gossip) that count is the current one, so it is removed only after a
  // promotion; without a replacement it stays a voter (it may come back). The leader never
  // removes itself: its agent moves leadership away before asking to leave.
  const leavingVoter = voters.find((m) => departing(m.id) && m.id !== input.self);
  if (leavingVoter !== undefined) {
    const before = input.votersAtLeave?.get(leavingVoter.id) ?? voters.length;
    const enough = Math.min(input.targetVoters, before);
    if (staying.length > 0 && staying.length >= enough) return { kind: 'remove', id: leavingVoter.id };
    const replacement = learners[0];
    if (replacement !== undefined) return { kind: 'promote', id: replacement.id };
  }

  // New members join as learners.
  const joinable = input.candidates
    .filter((c) => c.state === 'alive' && !inConf.has(c.id) && !input.leaving.has(c.id))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  const next = joinable[0];
  if (next !== undefined) return { kind: 'add-learner', id: next.id, address: next.raftAddress };

  // Grow the voters towards the target, keeping the count odd.
  if (staying.length < input.targetVoters && learners.length > 0) {
    const after = staying.length + 1;
    const canReachOdd = after % 2 === 1 || (learners.length >= 2 && after + 1 <= input.targetVoters);
    if (canReachOdd) return { kind: 'promote', id: (learners[0] as ConfMember).id };
  }
  return null;
}

/** What the autopilot drives: a `RaftNode` and its `KvStateMachine` have it. */
export interface AutopilotRaft {
  /** This member's id. */
  readonly id: string;
  /** Current role. */
  readonly role: string;
  /** Configuration and progress. */
  status(): {
    readonly lastIndex: number;
    readonly members: readonly ConfMember[];
  };
  /** Adds a learner. */
  addLearner(id: string, address: string): Promise<unknown>;
  /** Promotes a learner. */
  promote(id: string): Promise<unknown>;
  /** Removes a member. */
  removeServer(id: string): Promise<unknown>;
}

/** Options of {@link RaftAutopilot}. */
export interface RaftAutopilotOptions {
  /** The Raft member (acts only while it leads). */
  readonly raft: AutopilotRaft;
  /** Ids with a leave record (read from the local KV). */
  readonly leaving: () => ReadonlySet<string>;
  /** Ids whose leave record is older than the grace period. @defaultValue none */
  readonly staleLeaves?: () => ReadonlySet<string>;
  /** Voter counts recorded with the leave requests. @defaultValue none */
  readonly votersAtLeave?: () => ReadonlyMap<string, number>;
  /** Gossip members of this cluster with a Raft address. */
  readonly candidates: () => readonly Candidate[];
  /** Target voters. */
  readonly targetVoters: number;
  /**
   * Deletes the leave record of `id` through Raft (in a client session, so that a copy
   * committed twice cannot delete a newer record).
   */
  readonly clearLeave: (id: string) => Promise<unknown>;
  /** Pause between rounds in ms. @defaultValue 500 */
  readonly intervalMs?: number;
  /** Where changes are logged. */
  readonly logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/** Runs {@link planStep} on the leader, one change per round, until stopped. */
export class RaftAutopilot {
  readonly #options: RaftAutopilotOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #round: Promise<void> = Promise.resolve();
  /** Changes made, for tests and logs. */
  changes = 0;

  /** Creates the autopilot; call {@link start}. */
  constructor(options: RaftAutopilotOptions) {
    this.#options = options;
  }

  /** Starts the rounds. */
  start(): void {
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#round = this.#step().finally(() => this.#schedule());
    }, this.#options.intervalMs ?? 500);
  }

  async #step(): Promise<void> {
    const { raft, logger } = this.#options;
    if (this.#stopped || raft.role !== 'leader') return;
    const status = raft.status();
    const step = planStep({
      self: raft.id,
      members: status.members,
      lastIndex: status.lastIndex,
      candidates: this.#options.candidates(),
      leaving: this.#options.leaving(),
      ...(this.#options.staleLeaves === undefined ? {} : { staleLeaves: this.#options.staleLeaves() }),
      ...(this.#options.votersAtLeave === undefined ? {} : { votersAtLeave: this.#options.votersAtLeave() }),
      targetVoters: this.#options.targetVoters,
    });
    if (step === null) return;
    try {
      switch (step.kind) {
        case 'add-learner':
          await raft.addLearner(step.id, step.address);
          break;
        case 'promote':
          await raft.promote(step.id);
          break;
        case 'remove':
          await raft.removeServer(step.id);
          break;
        case 'clear-leave':
          await this.#options.clearLeave(step.id);
          break;
      }
      this.changes++;
      logger.info({ step: step.kind, member: step.id }, 'raft autopilot changed the membership');
    } catch (error) {
      // Lost leadership, a change still pending, a timeout: the next round plans afresh.
      logger.warn(
        { step: step.kind, member: step.id, error: error instanceof Error ? error.message : String(error) },
        'raft autopilot step failed',
      );
    }
  }

  /** Stops scheduling rounds and waits for the one in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
  }
}
