/**
 * The application state that Raft replicates. Every member applies the same commands in the
 * same order, so `apply` must be deterministic: no clock, no randomness, no I/O — anything
 * time-dependent must come inside the command (as the leader-proposed time of the KV store does).
 */
export interface StateMachine<Result = unknown, Query = unknown, QueryResult = unknown> {
  /** Applies a committed command at `index`; the result goes back to the proposer. */
  apply(command: Uint8Array, index: number): Result;
  /** Answers a read against the current state (called after a ReadIndex round). */
  query(query: Query): QueryResult;
  /** Serialises the whole state (as of the last applied index). */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. Must reject malformed data with an error. */
  restore(data: Uint8Array): void;
}
