/** A Raft member's identity: a short, stable, unique name (`n1`, `node-a`). Never reused for another machine. */
export type NodeId = string;

/**
 * What an entry carries: `normal` is a command for the state machine (empty data is the no-op a
 * new leader appends), `config` is an encoded {@link ConfChange}.
 */
export type EntryKind = 'normal' | 'config';

/** One log entry. Immutable once created. */
export interface Entry {
  /** Position in the log, starting at 1. */
  readonly index: number;
  /** The leader term in which the entry was created. */
  readonly term: number;
  /** Command or configuration change. */
  readonly kind: EntryKind;
  /** The command bytes, or the encoded {@link ConfChange} for `config` entries. */
  readonly data: Uint8Array;
}

/**
 * The state Raft must persist before it answers any message: the current term, whom it voted
 * for in that term (`null`: nobody), and the highest index known committed.
 */
export interface HardState {
  /** Latest term this server has seen. */
  readonly term: number;
  /** Candidate that received this server's vote in `term`, or `null`. */
  readonly vote: NodeId | null;
  /** Highest log index known to be committed. */
  readonly commit: number;
}

/**
 * The cluster configuration. Outside a joint configuration only `voters` and `learners` are
 * set. During joint consensus `votersOutgoing` holds the old voter set; decisions then need a
 * majority of both. `learnersNext` are voters of the outgoing config that become learners
 * when the joint config is left.
 */
export interface ConfState {
  /** Voting members (of the incoming config when joint). */
  readonly voters: readonly NodeId[];
  /** Non-voting members that receive the log. */
  readonly learners: readonly NodeId[];
  /** Voting members of the outgoing config while joint; empty otherwise. */
  readonly votersOutgoing: readonly NodeId[];
  /** Outgoing voters that turn into learners on leaving the joint config. */
  readonly learnersNext: readonly NodeId[];
  /** Leave the joint config automatically once it is committed. */
  readonly autoLeave: boolean;
}

/** One step of a configuration change. */
export interface ConfChangeStep {
  /** What to do to `id`. */
  readonly type: 'addVoter' | 'addLearner' | 'remove';
  /** The member. */
  readonly id: NodeId;
  /** The member's peer address (`host:port`), for the transport; ignored by the core. */
  readonly address?: string;
}

/**
 * A configuration change as proposed and stored in a `config` entry.
 * - `simple`: exactly one step that changes the voter set by at most one member (safe without joint).
 * - `joint`: any number of steps, entered as a joint configuration; left automatically
 *   (`autoLeave`) or by proposing `{ mode: 'leaveJoint', steps: [] }`.
 */
export interface ConfChange {
  /** How the change is applied. */
  readonly mode: 'simple' | 'joint' | 'leaveJoint';
  /** The steps, applied in order. */
  readonly steps: readonly ConfChangeStep[];
  /** With `joint`: leave the joint config as soon as it commits. */
  readonly autoLeave?: boolean;
}

/** Metadata of a snapshot: the last entry it covers and the configuration at that point. */
export interface SnapshotMeta {
  /** Index of the last entry included. */
  readonly index: number;
  /** Term of that entry. */
  readonly term: number;
  /** Configuration as of `index`. */
  readonly conf: ConfState;
  /** Peer addresses known as of `index` (id → `host:port`); the core ignores them. */
  readonly addresses: Readonly<Record<NodeId, string>>;
}

/** A state machine snapshot with its Raft metadata. `index` 0 means "no snapshot". */
export interface Snapshot {
  /** What the snapshot covers. */
  readonly meta: SnapshotMeta;
  /** The state machine's serialised state. */
  readonly data: Uint8Array;
}

/** Fields every message has. */
interface MessageBase {
  /** Sender. */
  readonly from: NodeId;
  /** Receiver. */
  readonly to: NodeId;
  /** Sender's term (0 for messages that are not term-scoped: `propose`, `readIndex` forwarding). */
  readonly term: number;
}

/** RequestVote (or PreVote, which asks without raising the term). */
export interface VoteRequest extends MessageBase {
  /** Discriminator. */
  readonly type: 'vote';
  /** A PreVote: `term` is the term the candidate would campaign in. */
  readonly preVote: boolean;
  /** Index of the candidate's last entry. */
  readonly lastIndex: number;
  /** Term of the candidate's last entry. */
  readonly lastTerm: number;
  /** Sent because of a leadership transfer: voters grant it even while they heard from a leader recently. */
  readonly transfer: boolean;
}

/** Answer to a {@link VoteRequest}. */
export interface VoteResponse extends MessageBase {
  /** Discriminator. */
  readonly type: 'voteResponse';
  /** Answers a PreVote. */
  readonly preVote: boolean;
  /** Whether the vote was granted. */
  readonly granted: boolean;
}

/** AppendEntries. */
export interface AppendRequest extends MessageBase {
  /** Discriminator. */
  readonly type: 'append';
  /** Index of the entry before `entries`. */
  readonly prevIndex: number;
  /** Term of that entry. */
  readonly prevTerm: number;
  /** Entries to append (may be empty: a probe). */
  readonly entries: readonly Entry[];
  /** Leader's commit index. */
  readonly commit: number;
}

/** Answer to an {@link AppendRequest} (also acknowledges an installed snapshot). */
export interface AppendResponse extends MessageBase {
  /** Discriminator. */
  readonly type: 'appendResponse';
  /** False when the log did not match at `prevIndex`. */
  readonly reject: boolean;
  /** On success: the highest index now known to match. On reject: the rejected `prevIndex`. */
  readonly index: number;
  /** On reject: a hint for fast backtracking — an index at or below which the logs may match. */
  readonly hintIndex: number;
  /** On reject: the follower's term at `hintIndex`. */
  readonly hintTerm: number;
}

/** Leader heartbeat: keeps followers from campaigning and confirms leadership for reads. */
export interface HeartbeatRequest extends MessageBase {
  /** Discriminator. */
  readonly type: 'heartbeat';
  /** min(leader commit, follower match): never tells a follower to commit what it may not have. */
  readonly commit: number;
  /** ReadIndex round this heartbeat confirms, or '' when none. */
  readonly context: string;
}

/** Answer to a {@link HeartbeatRequest}. */
export interface HeartbeatResponse extends MessageBase {
  /** Discriminator. */
  readonly type: 'heartbeatResponse';
  /** Echo of the request's context. */
  readonly context: string;
}

/** InstallSnapshot (the transport splits the data into chunks on the wire). */
export interface SnapshotRequest extends MessageBase {
  /** Discriminator. */
  readonly type: 'snapshot';
  /** The snapshot to install. */
  readonly snapshot: Snapshot;
}

/** Tells the leadership-transfer target to campaign at once. */
export interface TimeoutNowRequest extends MessageBase {
  /** Discriminator. */
  readonly type: 'timeoutNow';
  /**
   * With {@link TimeoutNowRequest.logTerm}: the leader's last entry when it sent this, ahead of
   * the target's acknowledgement of it. The target campaigns only if its log holds this entry
   * (the appends that carry it arrive first, on the same connection); otherwise it ignores the
   * message. Absent: the target has acknowledged the leader's whole log; campaign at once.
   */
  readonly index?: number;
  /** The term of the entry at {@link TimeoutNowRequest.index}; present exactly when it is. */
  readonly logTerm?: number;
}

/** A proposal forwarded by a follower to its leader. */
export interface ProposeRequest extends MessageBase {
  /** Discriminator. */
  readonly type: 'propose';
  /** Entries with only `kind` and `data` meaningful (index and term are 0). */
  readonly entries: readonly Entry[];
}

/** A follower asks the leader for a read index on behalf of its client. */
export interface ReadIndexRequest extends MessageBase {
  /** Discriminator. */
  readonly type: 'readIndex';
  /** The follower's request id, echoed back. */
  readonly context: string;
}

/** The leader's answer to a {@link ReadIndexRequest}: reads are safe once `index` is applied. */
export interface ReadIndexResponse extends MessageBase {
  /** Discriminator. */
  readonly type: 'readIndexResponse';
  /** The read index; 0 means the leader could not serve it (the follower retries or fails). */
  readonly index: number;
  /** The request id. */
  readonly context: string;
}

/** Every message Raft members exchange. */
export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNowRequest
  | ProposeRequest
  | ReadIndexRequest
  | ReadIndexResponse;

/** The names of the message kinds. */
export type MessageType = Message['type'];

/** A server's role. */
export type RaftRole = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** State that changes often and need not be persisted. */
export interface SoftState {
  /** The leader this server knows of, or `null`. */
  readonly leader: NodeId | null;
  /** This server's role. */
  readonly role: RaftRole;
  /** The term of this view: `leader` leads in it. */
  readonly term: number;
}

/** A linearizable read that may proceed once the state machine has applied `index`. */
export interface ReadState {
  /** Apply at least up to here before serving the read. */
  readonly index: number;
  /** The caller's request id. */
  readonly context: string;
}

/**
 * One batch of work the core hands to its driver. The driver must, in this order:
 * 1. persist `snapshot` (if any), then `entries` and `hardState` — durably when `mustSync`;
 * 2. send `messages` (only after step 1: a vote or an append ack must never precede its record);
 * 3. apply `snapshot` and then `committed` to the state machine, and hand out `readStates`
 *    once the applied index reaches them;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  /** Present when leader or role changed since the last Ready. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed. */
  readonly hardState?: HardState;
  /** Entries to append to stable storage (replacing any stored suffix from `entries[0].index`). */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader, to persist and then apply. */
  readonly snapshot?: Snapshot;
  /** Committed entries to apply, in order. */
  readonly committed: readonly Entry[];
  /** Messages to send after persisting. */
  readonly messages: readonly Message[];
  /** Reads that became safe. */
  readonly readStates: readonly ReadState[];
  /** Whether step 1 must fsync (term, vote or entries changed). */
  readonly mustSync: boolean;
}

/** Replication state of one follower, as the leader sees it. */
export interface ProgressStatus {
  /** The member. */
  readonly id: NodeId;
  /** Voter (true) or learner. */
  readonly voter: boolean;
  /** Highest index known replicated there. */
  readonly match: number;
  /** Next index to send. */
  readonly next: number;
  /** Replication mode: probing, pipelining, or waiting for a snapshot. */
  readonly state: 'probe' | 'replicate' | 'snapshot';
  /** Heard from within the last election timeout. */
  readonly recentActive: boolean;
}

/** A snapshot of the core's state for status pages and tests. */
export interface RaftStatus {
  /** This server. */
  readonly id: NodeId;
  /** Role now. */
  readonly role: RaftRole;
  /** Current term. */
  readonly term: number;
  /** Vote in the current term. */
  readonly vote: NodeId | null;
  /** Known leader. */
  readonly leader: NodeId | null;
  /** Commit index. */
  readonly commitIndex: number;
  /** Highest index handed out for applying. */
  readonly appliedIndex: number;
  /** Last log index. */
  readonly lastIndex: number;
  /** Current configuration. */
  readonly conf: ConfState;
  /** Leader only: every other member's progress. */
  readonly progress: readonly ProgressStatus[];
  /** Leadership transfer in progress, to this member. */
  readonly transferee: NodeId | null;
}

/** The empty configuration. */
export const EMPTY_CONF: ConfState = Object.freeze({
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
});

/** The empty snapshot (index 0), what a fresh store reports. */
export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  meta: Object.freeze({ index: 0, term: 0, conf: EMPTY_CONF, addresses: Object.freeze({}) }),
  data: new Uint8Array(0),
});
