import type { Clock, Random } from '@clusteros/sim';
import type { NodeId } from './core/types.js';
import { RaftConfigError } from './errors.js';
import type { Logger } from './logger.js';
import type { StateMachine } from './state-machine.js';
import type { RaftStorage } from './storage/storage.js';
import type { RaftTransport } from './transport/transport.js';

/** Options of {@link RaftNode.create}. */
export interface RaftNodeOptions<Result = unknown, Query = unknown, QueryResult = unknown> {
  /** This member's id. */
  readonly id: NodeId;
  /**
   * With `start: 'bootstrap'` (the default): the initial voters and their peer addresses
   * (`id → host:port`), this member included. Used only when the storage is empty (first boot);
   * afterwards the configuration comes from the log. Every initial member must be given the
   * same map.
   *
   * With `start: 'join'`: addresses of members of the existing cluster (this member need not be
   * among them), so a new member can answer the leader before it has learned the configuration.
   * They are handed to the transport only, never become configuration, and may be empty if the
   * caller tells the transport itself.
   */
  readonly peers: Readonly<Record<NodeId, string>>;
  /**
   * How a member whose storage is empty begins. `bootstrap`: it writes the configuration `peers`
   * describes (every initial member does the same). `join`: it writes nothing and waits, not
   * campaigning, until a leader adds it (`addLearner`) and sends it a snapshot; use this for
   * every member added to a running cluster, or a second cluster with the same ids is born.
   * Ignored when the storage already holds state (a restart). @defaultValue 'bootstrap'
   */
  readonly start?: 'bootstrap' | 'join';
  /** Durable storage (`FileStorage` in production, `MemoryStorage` in tests). The node opens it. */
  readonly storage: RaftStorage;
  /** Message transport (`StreamTransport`, or a `SimRaftBus` endpoint). */
  readonly transport: RaftTransport;
  /** The replicated application state. */
  readonly stateMachine: StateMachine<Result, Query, QueryResult>;
  /** Time source. @defaultValue a `SystemClock` */
  readonly clock?: Clock;
  /** Randomness (election timeouts, request ids). @defaultValue `systemRandom()` */
  readonly random?: Random;
  /** Logger. @defaultValue silent */
  readonly logger?: Logger;
  /** Election timeout base in ms; the real timeout is randomised in [1×, 2×). @defaultValue 1000 */
  readonly electionTimeoutMs?: number;
  /** Heartbeat interval in ms; also the tick length. @defaultValue 100 */
  readonly heartbeatMs?: number;
  /** Take a local snapshot after this many applied entries. @defaultValue 10000 */
  readonly snapshotEvery?: number;
  /** Log entries kept behind a snapshot for slow followers. @defaultValue 1000 */
  readonly snapshotRetain?: number;
  /** Use PreVote. @defaultValue true */
  readonly preVote?: boolean;
  /**
   * Start the election timer one election timeout minus one heartbeat along (etcd's
   * `--initial-election-tick-advance`, on by default there): the first campaign comes 1 to
   * `electionTimeoutMs / heartbeatMs` heartbeats after start instead of a whole timeout later,
   * so members that start together elect a leader about `electionTimeoutMs` sooner. A member
   * restarting into a cluster that has a leader may campaign before its first heartbeat
   * arrives; with PreVote that fails without raising any term, without PreVote it can unseat
   * the leader. Off by default so that the timing of existing deployments and simulations stays
   * as it was; `raft-kv` turns it on, as etcd does.
   * @defaultValue false
   */
  readonly initialElectionTickAdvance?: boolean;
  /** Leader steps down without a quorum; followers ignore disruptive votes. @defaultValue true */
  readonly checkQuorum?: boolean;
  /**
   * `safe`: every read confirms leadership with a heartbeat round. `lease`: the leader answers
   * reads while its lease (heard from a quorum within the election timeout) holds — correct
   * only if clocks drift less than the gap between heartbeat and election timeout.
   * @defaultValue 'safe'
   */
  readonly readMode?: 'safe' | 'lease';
  /** Followers forward proposals to the leader (else they fail with `NotLeaderError`). @defaultValue true */
  readonly forwardProposals?: boolean;
  /**
   * Forward a pending proposal again when the leader changes. A follower hands each proposal to
   * the leader it knows; if that leader then crashes or loses its leadership, the proposal may
   * be lost with it, and its caller would wait for `requestTimeoutMs`. With this on, every
   * proposal this member forwarded and has not yet seen applied is forwarded again to the next
   * leader (or appended here, if this member becomes the leader), so requests complete as soon
   * as a new leader serves instead of timing out after a failover. A proposal not applied one
   * election timeout after it was forwarded is forwarded again to the same leader too: the
   * message, or the leader's append carrying it, may have been lost on the way (a dropped
   * connection), which would otherwise cost the caller its whole `requestTimeoutMs`.
   *
   * The old leader may have replicated the first copy before it failed, so the same command can
   * be committed twice. Turn this on only with a state machine that applies a command once
   * however often it is committed: `KvStateMachine` does for commands that carry a client
   * session (`client` and `seq`), and `raft-kv` puts every write in one.
   * @defaultValue false
   */
  readonly retryForwardedProposals?: boolean;
  /** Give up on a proposal or read after this long with `RaftTimeoutError`. @defaultValue 5 × electionTimeoutMs */
  readonly requestTimeoutMs?: number;
  /**
   * How long a leader holds the empty append that tells followers of a new commit index, in ms.
   * When the next write's append to that follower leaves within this time it carries the commit
   * index instead and the notice is dropped, which spares each follower a message and an answer
   * per write under load; otherwise the notice leaves when the time is up, so followers of an
   * idle leader apply (and serve local reads of) a commit at most this much later. 0 sends every
   * notice at once, as etcd's raft does. At most `heartbeatMs`.
   * @defaultValue 5, or `heartbeatMs` when that is shorter
   */
  readonly commitNoticeDelayMs?: number;
  /** Bytes of entry data per append message. @defaultValue 1 MiB */
  readonly maxSizePerMsg?: number;
  /** Append messages in flight per follower. @defaultValue 256 */
  readonly maxInflightMsgs?: number;
  /** Uncommitted entry bytes accepted before proposals are dropped. @defaultValue 64 MiB */
  readonly maxUncommittedBytes?: number;
  /** Proposals waiting for their result at once; more fail with `ProposalDroppedError`. @defaultValue 10000 */
  readonly maxPendingRequests?: number;
  /**
   * Runs on the leader for every command it appends (its own and those forwarded by followers),
   * with the leader's clock: the way leader-proposed time gets into commands, so every replica
   * sees the same time at the same log position. `KvStateMachine` uses `kv.stamp`. A stamp that
   * throws leaves the command unchanged (the state machine will reject it deterministically).
   */
  readonly stampCommand?: (command: Uint8Array, now: number) => Uint8Array;
  /**
   * While leader, propose `make(now)` every `intervalMs` (e.g. `kv.tick`), so that time-driven
   * state (lease expiry) advances even when no client writes.
   */
  readonly timeCommand?: TimeCommand;
}

/** A command the leader proposes periodically to carry its time into the log. */
export interface TimeCommand {
  /** How often, in ms of the leader's clock. */
  readonly intervalMs: number;
  /** Builds the command for the leader's time `now` (whole ms). */
  readonly make: (now: number) => Uint8Array;
}

/** Options with defaults filled in and checked. */
export interface ResolvedNodeOptions {
  readonly electionTimeoutMs: number;
  readonly heartbeatMs: number;
  readonly electionTicks: number;
  readonly snapshotEvery: number;
  readonly snapshotRetain: number;
  readonly requestTimeoutMs: number;
  readonly maxPendingRequests: number;
  readonly retryForwardedProposals: boolean;
  readonly commitNoticeDelayMs: number;
  readonly start: 'bootstrap' | 'join';
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new RaftConfigError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Fills defaults and validates; throws {@link RaftConfigError}. */
export function resolveNodeOptions(options: RaftNodeOptions<unknown, unknown, unknown>): ResolvedNodeOptions {
  if (typeof options.id !== 'string' || options.id.length === 0 || options.id.length > 256) {
    throw new RaftConfigError('id must be a non-empty string of at most 256 characters');
  }
  const heartbeatMs = positiveInteger(options.heartbeatMs ?? 100, 'heartbeatMs');
  const electionTimeoutMs = positiveInteger(options.electionTimeoutMs ?? 1000, 'electionTimeoutMs');
  if (electionTimeoutMs < 3 * heartbeatMs) {
    throw new RaftConfigError(
      `electionTimeoutMs (${electionTimeoutMs}) must be at least 3 × heartbeatMs (${heartbeatMs}) so that a heartbeat lost now and then does not start an election`,
    );
  }
  const commitNoticeDelayMs = options.commitNoticeDelayMs ?? Math.min(5, heartbeatMs);
  if (
    !Number.isSafeInteger(commitNoticeDelayMs) ||
    commitNoticeDelayMs < 0 ||
    commitNoticeDelayMs > heartbeatMs
  ) {
    throw new RaftConfigError(
      `commitNoticeDelayMs must be a whole number of ms from 0 to heartbeatMs (${heartbeatMs}), got ${commitNoticeDelayMs}`,
    );
  }
  const start = options.start ?? 'bootstrap';
  if (start !== 'bootstrap' && start !== 'join')
    throw new RaftConfigError(`start must be 'bootstrap' or 'join', got ${String(start)}`);
  const peerIds = Object.keys(options.peers);
  if (start === 'bootstrap' && !peerIds.includes(options.id))
    throw new RaftConfigError(`peers must include this member (${options.id})`);
  return {
    heartbeatMs,
    electionTimeoutMs,
    electionTicks: Math.round(electionTimeoutMs / heartbeatMs),
    snapshotEvery: positiveInteger(options.snapshotEvery ?? 10_000, 'snapshotEvery'),
    snapshotRetain: Math.max(0, Math.trunc(options.snapshotRetain ?? 1_000)),
    requestTimeoutMs: positiveInteger(options.requestTimeoutMs ?? 5 * electionTimeoutMs, 'requestTimeoutMs'),
    maxPendingRequests: positiveInteger(options.maxPendingRequests ?? 10_000, 'maxPendingRequests'),
    retryForwardedProposals: options.retryForwardedProposals === true,
    commitNoticeDelayMs,
    start,
  };
}
