/**
 * Roles for ClusterOS nodes.
 *
 * - {@link Role}: the contract a piece of node software implements (start, stop, status, health,
 *   and the four handoff calls).
 * - {@link RoleManager}: runs a node's roles in dependency order, restarts failures with capped
 *   backoff, elects one holder per singleton role on a fenced Raft lease, and hands roles over.
 * - {@link HandoffCoordinator}: `manager.coordinator.transfer(role, to)` moves a singleton role
 *   (or Raft leadership) to another node without a moment with two acting holders.
 * - {@link RoleStore}: what roles need from Raft; `RaftNode` and `KvStateMachine` provide it.
 *
 * @packageDocumentation
 */
export {
  HandoffCoordinator,
  type HandoffCoordinatorOptions,
  type TransferOptions,
  type TransferResult,
} from './coordinator.js';
export {
  type HeldLease,
  LeaseElection,
  type LeaseElectionEvents,
  type LeaseElectionOptions,
  type LeaseHolderView,
  type LeaseLossReason,
} from './election.js';
export { isEligible, rankCandidates } from './eligibility.js';
export {
  HandoffAbortedError,
  HandoffRefusedError,
  isHandoffAbortedError,
  isHandoffRefusedError,
  isRecordDecodeError,
  isRoleConfigError,
  isRoleManagerStoppedError,
  isRoleTimeoutError,
  isUnknownRoleError,
  RecordDecodeError,
  RoleConfigError,
  RoleManagerStoppedError,
  RoleTimeoutError,
  UnknownRoleError,
} from './errors.js';
export type {
  HandoffEventInfo,
  LeaderAcquiredEvent,
  LeaderLostEvent,
  RoleFailedEvent,
  RoleManagerEvents,
  RoleStartedEvent,
  RoleStoppedEvent,
} from './events.js';
export { type Logger, silentLogger } from './logger.js';
export {
  type LeaderReport,
  RoleManager,
  type RoleManagerOptions,
  type RoleManagerStopOptions,
  type RoleStatusReport,
} from './manager.js';
export { RAFT_ROLE, type RaftTransferRequest } from './raft-transfer.js';
export {
  DEFAULT_KEY_PREFIX,
  decodeHandoff,
  decodeLease,
  encodeHandoff,
  encodeLease,
  type HandoffPhase,
  type HandoffRecord,
  handoffKey,
  isAbortablePhase,
  isActivePhase,
  type LeaseRecord,
  leaseKey,
} from './records.js';
export {
  type ClusterView,
  type HandoffState,
  type HealthReport,
  type LeaderInfo,
  MAX_HANDOFF_STATE_BYTES,
  type NodeCapabilities,
  type NodeRef,
  type Placement,
  type Role,
  type RoleContext,
  type RoleRequirements,
  type RoleStatus,
  type StopReason,
} from './role.js';
export type { RestartPolicy, RolePhase, RoleTimeouts } from './runner.js';
export type { RaftLeadership, RoleKvView, RoleLog, RoleStore } from './store.js';
export { type LeaseTiming, resolveLeaseTiming, safeWindowMs } from './timing.js';
