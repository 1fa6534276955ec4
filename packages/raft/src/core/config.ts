import type { Random } from '@clusteros/sim';
import { decodeConfChange } from '../conf-change-codec.js';
import { RaftConfigError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import type { LogReader } from '../storage/storage.js';
import type { ConfChange, NodeId } from './types.js';

/**
 * Ticks a leader lease is shortened by: one for the tick granularity at each end (a tick may
 * fall just after a send, or just before a receive), which also absorbs clock drift of less
 * than one tick per election timeout.
 */
export const LEASE_GUARD_TICKS = 2;

/** How the leader confirms that a read may be served. */
export type ReadMode = 'safe' | 'lease';

/** Options of {@link RaftCore}. Times are in ticks: the driver decides how long a tick is. */
export interface RaftCoreConfig {
  /** This member's id. */
  readonly id: NodeId;
  /** The synchronous read view of durable storage. */
  readonly storage: LogReader;
  /** The only source of randomness (election timeouts). */
  readonly random: Random;
  /**
   * Election timeout base: a follower campaigns after a random timeout in
   * `[electionTicks, 2 × electionTicks)` without hearing from a leader. @defaultValue 10
   */
  readonly electionTicks?: number;
  /** Ticks between leader heartbeats; must be below `electionTicks`. @defaultValue 1 */
  readonly heartbeatTicks?: number;
  /** Run a PreVote round (which does not raise the term) before a real election. @defaultValue true */
  readonly preVote?: boolean;
  /**
   * Start with the election timer `electionTicks - 1` ticks along, as etcd's
   * `--initial-election-tick-advance` does: the first campaign comes after 1 to `electionTicks`
   * ticks instead of `electionTicks` to `2 × electionTicks - 1`, so a cluster whose members all
   * start (or restart) together has a leader about one election timeout sooner. The timeouts stay
   * randomised over the same spread, so split votes are no likelier. A member restarting into a
   * cluster that has a leader may campaign before the first heartbeat reaches it: with `preVote`
   * that campaign fails without raising any term; without it, it can unseat the leader.
   * @defaultValue false
   */
  readonly initialElectionTickAdvance?: boolean;
  /**
   * The leader steps down when it has not heard from a quorum within an election timeout, and
   * a follower that heard from a leader within the timeout ignores (non-transfer) votes.
   * @defaultValue true
   */
  readonly checkQuorum?: boolean;
  /** Bytes of entry data per append message (at least one entry is always sent). @defaultValue 1 MiB */
  readonly maxSizePerMsg?: number;
  /** Append messages in flight per follower while pipelining. @defaultValue 256 */
  readonly maxInflightMsgs?: number;
  /** Uncommitted entry bytes the leader accepts before dropping proposals. @defaultValue 64 MiB */
  readonly maxUncommittedBytes?: number;
  /**
   * `safe`: each read is confirmed by a heartbeat round to a quorum. `lease`: the leader answers
   * at once while its lease holds; needs `checkQuorum`. See {@link RaftCore} for the clock
   * assumption. @defaultValue 'safe'
   */
  readonly readMode?: ReadMode;
  /** A follower that knows the leader forwards proposals to it. @defaultValue true */
  readonly forwardProposals?: boolean;
  /** The last index the state machine applied before a restart. @defaultValue the snapshot's index */
  readonly applied?: number;
  /**
   * Decodes a `config` entry's data; used only on restart to replay configuration entries
   * between the snapshot and `applied`. An empty `config` entry always means "leave the joint
   * configuration". @defaultValue the package's msgpack codec
   */
  readonly decodeConfChange?: (data: Uint8Array) => ConfChange;
  /** Where protocol events go. @defaultValue silent */
  readonly logger?: Logger;
}

/** A {@link RaftCoreConfig} with every default filled in and checked. */
export interface ResolvedRaftCoreConfig {
  /** See {@link RaftCoreConfig.id}. */
  readonly id: NodeId;
  /** See {@link RaftCoreConfig.storage}. */
  readonly storage: LogReader;
  /** See {@link RaftCoreConfig.random}. */
  readonly random: Random;
  /** See {@link RaftCoreConfig.electionTicks}. */
  readonly electionTicks: number;
  /** See {@link RaftCoreConfig.heartbeatTicks}. */
  readonly heartbeatTicks: number;
  /** See {@link RaftCoreConfig.preVote}. */
  readonly preVote: boolean;
  /** See {@link RaftCoreConfig.initialElectionTickAdvance}. */
  readonly initialElectionTickAdvance: boolean;
  /** See {@link RaftCoreConfig.checkQuorum}. */
  readonly checkQuorum: boolean;
  /** See {@link RaftCoreConfig.maxSizePerMsg}. */
  readonly maxSizePerMsg: number;
  /** See {@link RaftCoreConfig.maxInflightMsgs}. */
  readonly maxInflightMsgs: number;
  /** See {@link RaftCoreConfig.maxUncommittedBytes}. */
  readonly maxUncommittedBytes: number;
  /** See {@link RaftCoreConfig.readMode}. */
  readonly readMode: ReadMode;
  /** See {@link RaftCoreConfig.forwardProposals}. */
  readonly forwardProposals: boolean;
  /** See {@link RaftCoreConfig.applied}; `undefined` means "the snapshot's index". */
  readonly applied: number | undefined;
  /** See {@link RaftCoreConfig.decodeConfChange}. */
  readonly decodeConfChange: (data: Uint8Array) => ConfChange;
  /** See {@link RaftCoreConfig.logger}. */
  readonly logger: Logger;
}

/** The optional {@link RaftCoreConfig} fields that have a fixed default. */
export type RaftCoreDefaults = Readonly<
  Required<
    Pick<
      RaftCoreConfig,
      | 'electionTicks'
      | 'heartbeatTicks'
      | 'preVote'
      | 'initialElectionTickAdvance'
      | 'checkQuorum'
      | 'maxSizePerMsg'
      | 'maxInflightMsgs'
      | 'maxUncommittedBytes'
      | 'readMode'
      | 'forwardProposals'
    >
  >
>;

/** Defaults of the optional {@link RaftCoreConfig} fields. */
export const RAFT_CORE_DEFAULTS: RaftCoreDefaults = Object.freeze({
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  initialElectionTickAdvance: false,
  checkQuorum: true,
  maxSizePerMsg: 1024 * 1024,
  maxInflightMsgs: 256,
  maxUncommittedBytes: 64 * 1024 * 1024,
  readMode: 'safe',
  forwardProposals: true,
});

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RaftConfigError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function flag(value: unknown, fallback: boolean, name: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new RaftConfigError(`${name} must be a boolean`);
  return value;
}

/** Fills in defaults and validates; throws `RaftConfigError` for anything unusable. */
export function resolveRaftCoreConfig(config: RaftCoreConfig): ResolvedRaftCoreConfig {
  if (typeof config.id !== 'string' || config.id.length === 0) {
    throw new RaftConfigError('id must be a non-empty string');
  }
  if (typeof config.storage !== 'object' || config.storage === null) {
    throw new RaftConfigError('storage is required');
  }
  if (typeof config.random !== 'object' || config.random === null) {
    throw new RaftConfigError('random is required (inject a seeded Random)');
  }
  const electionTicks = positiveInteger(
    config.electionTicks ?? RAFT_CORE_DEFAULTS.electionTicks,
    'electionTicks',
  );
  const heartbeatTicks = positiveInteger(
    config.heartbeatTicks ?? RAFT_CORE_DEFAULTS.heartbeatTicks,
    'heartbeatTicks',
  );
  if (heartbeatTicks >= electionTicks) {
    // Followers would time out between two heartbeats of a healthy leader.
    throw new RaftConfigError(
      `heartbeatTicks (${heartbeatTicks}) must be below electionTicks (${electionTicks})`,
    );
  }
  const maxUncommittedBytes = config.maxUncommittedBytes ?? RAFT_CORE_DEFAULTS.maxUncommittedBytes;
  if (!(maxUncommittedBytes > 0)) {
    throw new RaftConfigError(`maxUncommittedBytes must be positive, got ${String(maxUncommittedBytes)}`);
  }
  const checkQuorum = flag(config.checkQuorum, RAFT_CORE_DEFAULTS.checkQuorum, 'checkQuorum');
  const readMode = config.readMode ?? RAFT_CORE_DEFAULTS.readMode;
  if (readMode !== 'safe' && readMode !== 'lease') {
    throw new RaftConfigError(`readMode must be 'safe' or 'lease', got ${String(readMode)}`);
  }
  if (readMode === 'lease' && !checkQuorum) {
    // Without checkQuorum followers vote freely, so a new leader can appear while the lease holds.
    throw new RaftConfigError("readMode 'lease' requires checkQuorum");
  }
  if (readMode === 'lease' && electionTicks - LEASE_GUARD_TICKS <= heartbeatTicks) {
    // The lease would expire before the next heartbeat round could renew it.
    throw new RaftConfigError(
      `readMode 'lease' needs electionTicks above heartbeatTicks + ${LEASE_GUARD_TICKS}, got ${electionTicks} and ${heartbeatTicks}`,
    );
  }
  const applied = config.applied;
  if (applied !== undefined && (!Number.isSafeInteger(applied) || applied < 0)) {
    throw new RaftConfigError(`applied must be a non-negative integer, got ${String(applied)}`);
  }
  return {
    id: config.id,
    storage: config.storage,
    random: config.random,
    electionTicks,
    heartbeatTicks,
    preVote: flag(config.preVote, RAFT_CORE_DEFAULTS.preVote, 'preVote'),
    initialElectionTickAdvance: flag(
      config.initialElectionTickAdvance,
      RAFT_CORE_DEFAULTS.initialElectionTickAdvance,
      'initialElectionTickAdvance',
    ),
    checkQuorum,
    maxSizePerMsg: positiveInteger(config.maxSizePerMsg ?? RAFT_CORE_DEFAULTS.maxSizePerMsg, 'maxSizePerMsg'),
    maxInflightMsgs: positiveInteger(
      config.maxInflightMsgs ?? RAFT_CORE_DEFAULTS.maxInflightMsgs,
      'maxInflightMsgs',
    ),
    maxUncommittedBytes,
    readMode,
    forwardProposals: flag(config.forwardProposals, RAFT_CORE_DEFAULTS.forwardProposals, 'forwardProposals'),
    applied,
    decodeConfChange: config.decodeConfChange ?? decodeConfChange,
    logger: config.logger ?? silentLogger,
  };
}
