import type { NodeId, RaftRole } from './core/types.js';

/** What the `snapshot` event reports. */
export interface SnapshotEventInfo {
  /** Last index the snapshot covers. */
  readonly index: number;
  /** Term of that entry. */
  readonly term: number;
  /** Installed from the leader, or taken locally. */
  readonly source: 'leader' | 'local';
}

/**
 * Events of a {@link RaftNode}, emitted after the step that caused them has been persisted
 * and applied, so a listener always sees a consistent node.
 */
export interface RaftNodeEvents {
  /**
   * The known leader changed, or the same member leads again in a newer term:
   * `node.on('leader', (leader, term) => …)`. `term` is the term `leader` leads in; `leader` is
   * null while unknown.
   */
  leader: [leader: NodeId | null, term: number];
  /** This member's role changed: `node.on('role', (role) => …)`. */
  role: [role: RaftRole];
  /** Entries up to `index` were applied to the state machine. */
  apply: [index: number];
  /** A snapshot was installed from the leader (`source: 'leader'`) or taken locally (`'local'`). */
  snapshot: [info: SnapshotEventInfo];
  /** The node stopped itself after an internal error (an `InvariantError` is a bug: report it). */
  error: [error: Error];
}
