/**
 * The seam between roles and the replicated store. Roles state what they need in these small
 * interfaces; `@clusteros/raft`'s `RaftNode` (with the KV result types) and `KvStateMachine`
 * satisfy them as they are, and a user with another store can implement them.
 */
import type { KvKeyValue, KvQuery, KvQueryResult, KvResult } from '@clusteros/raft';

/** Proposes commands to the replicated log and announces applied entries (a `RaftNode`). */
export interface RoleLog {
  /** Proposes KV command bytes; resolves with the result once applied on this member. */
  propose(command: Uint8Array): Promise<KvResult>;
  /** A linearizable read (ReadIndex): the answer reflects every write acknowledged before the call. */
  read(query: KvQuery): Promise<KvQueryResult>;
  /** Subscribes to "entries up to `index` were applied to the local replica". */
  on(event: 'apply', listener: (index: number) => void): unknown;
  /** Unsubscribes. */
  off(event: 'apply', listener: (index: number) => void): unknown;
}

/** This member's local replica of the KV (a `KvStateMachine`): possibly behind, never torn. */
export interface RoleKvView {
  /** The key-value at `key`, if present. */
  get(key: string): KvKeyValue | undefined;
  /** The replica's time: the leader-proposed ms that drive lease expiry. */
  readonly now: number;
}

/** Raft leadership, for the `raft` pseudo-role (a `RaftNode`). */
export interface RaftLeadership {
  /** The known leader's id, or `null`. */
  readonly leader: string | null;
  /** Makes `to` the leader (catch up, then TimeoutNow); rejects if it fails or times out. */
  transferLeadership(to: string): Promise<void>;
}

/** Everything the roles package needs from Raft. */
export interface RoleStore {
  /** The log (proposals and apply notifications). */
  readonly log: RoleLog;
  /** The local replica. */
  readonly view: RoleKvView;
  /** Raft leadership, if the `raft` pseudo-role should be transferable. */
  readonly raft?: RaftLeadership;
}
