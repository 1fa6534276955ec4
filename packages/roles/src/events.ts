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

/**
 * Events of a {@link RoleManager}, each with one plain object argument. Handoff events are
 * emitted by the node that did the step: the old holder for `started`, `prepared`, `completed`,
 * the target for `accepted`, either for `aborted`.
 */
export interface RoleManagerEvents {
  /** A role started on this node (`leader`: as the singleton's holder, with its token). */
  started: [
    info: { readonly role: string; readonly leader: boolean; readonly fencingToken: number | undefined },
  ];
  /** A role stopped on this node. */
  stopped: [info: { readonly role: string; readonly reason: StopReason }];
  /** A role failed; it restarts after `retryInMs`. `unhealthy` once it failed too often in a row. */
  failed: [
    info: {
      readonly role: string;
      readonly error: Error;
      readonly failures: number;
      readonly retryInMs: number;
      readonly unhealthy: boolean;
    },
  ];
  /** This node became the holder of a singleton role. */
  'leader-acquired': [info: { readonly role: string; readonly fencingToken: number }];
  /** This node stopped holding a singleton role. */
  'leader-lost': [
    info: { readonly role: string; readonly fencingToken: number; readonly reason: LeaseLossReason },
  ];
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
