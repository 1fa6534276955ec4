import type { LeaseLossReason } from './election.js';
import type { StopReason } from './role.js';

/** A handoff as events report it. */
export interface HandoffEventInfo {
  /** The role. */
  readonly role: string;
  /** The handoff id. */
  readonly id: string;
  /** The old holder. */
  readonly from: string;
  /** The target. */
  readonly to: string;
  /** Why it was aborted (`handoff-aborted` only). */
  readonly reason?: string;
}

/** A role started on this node. */
export interface RoleStartedEvent {
  /** The role. */
  readonly role: string;
  /** Started as the singleton's holder. */
  readonly leader: boolean;
  /** The holder's fencing token (singletons), else `undefined`. */
  readonly fencingToken: number | undefined;
}

/** A role stopped on this node. */
export interface RoleStoppedEvent {
  /** The role. */
  readonly role: string;
  /** Why. */
  readonly reason: StopReason;
}

/** A role failed on this node. */
export interface RoleFailedEvent {
  /** The role. */
  readonly role: string;
  /** What failed. */
  readonly error: Error;
  /** Consecutive failures so far. */
  readonly failures: number;
  /** The restart comes after this many ms. */
  readonly retryInMs: number;
  /** Whether it has now failed too often in a row (reported unhealthy). */
  readonly unhealthy: boolean;
}

/** This node became the holder of a singleton role. */
export interface LeaderAcquiredEvent {
  /** The role. */
  readonly role: string;
  /** The new holder's fencing token. */
  readonly fencingToken: number;
}

/** This node stopped holding a singleton role. */
export interface LeaderLostEvent {
  /** The role. */
  readonly role: string;
  /** The token it held. */
  readonly fencingToken: number;
  /** Why it stopped holding. */
  readonly reason: LeaseLossReason;
}

/**
 * Events of a {@link RoleManager}, each with one plain object argument. Handoff events are
 * emitted by the node that did the step: the old holder for `started`, `prepared`, `completed`,
 * the target for `accepted`, either for `aborted`.
 */
export interface RoleManagerEvents {
  /** A role started on this node (`leader`: as the singleton's holder, with its token). */
  started: [info: RoleStartedEvent];
  /** A role stopped on this node. */
  stopped: [info: RoleStoppedEvent];
  /** A role failed; it restarts after `retryInMs`. `unhealthy` once it failed too often in a row. */
  failed: [info: RoleFailedEvent];
  /** This node became the holder of a singleton role. */
  'leader-acquired': [info: LeaderAcquiredEvent];
  /** This node stopped holding a singleton role. */
  'leader-lost': [info: LeaderLostEvent];
  /** Old holder: a handoff began (it is quiescing). */
  'handoff-started': [info: HandoffEventInfo];
  /** Old holder: quiesced, state recorded. */
  'handoff-prepared': [info: HandoffEventInfo];
  /** Target: warmed up, healthy, lease moved; it now starts as holder. */
  'handoff-accepted': [info: HandoffEventInfo];
  /** Old holder: released; the handoff is recorded complete. */
  'handoff-completed': [info: HandoffEventInfo];
  /** The handoff was aborted before the lease moved; the old holder resumed. */
  'handoff-aborted': [info: HandoffEventInfo];
}
