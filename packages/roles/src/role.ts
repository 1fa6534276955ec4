/**
 * The Role contract: what a piece of node software (a daemon, a controller, a singleton duty)
 * implements so that a {@link RoleManager} can start it, stop it, watch its health and move it
 * between nodes. The README's "The Role contract" section states the rules every method may
 * rely on (which calls overlap, idempotency, timeouts); the TSDoc here repeats the essentials.
 */
import type { Logger } from './logger.js';

/** Where a role runs: on every node that enables it, or on exactly one node chosen by election. */
export type Placement = 'every-node' | 'singleton';

/** What a node offers; roles may require some of it ({@link RoleRequirements}). */
export interface NodeCapabilities {
  /** Logical CPU cores. */
  readonly cpuCores: number;
  /** Memory in bytes. */
  readonly ramBytes: number;
  /** GPUs. */
  readonly gpus: number;
  /** CPU architecture as Node names it (`x64`, `arm64`). */
  readonly arch: string;
}

/** A node of the cluster as roles see it. */
export interface NodeRef {
  /** Stable node id (the Raft member id and the membership name). */
  readonly id: string;
  /** Human-readable name (host name). */
  readonly name: string;
  /** Where its services listen (`host` or `host:port`), if known. */
  readonly address?: string;
  /** What it offers; a node without capabilities is eligible only for roles that require none. */
  readonly capabilities?: NodeCapabilities;
  /** Election preference: higher wins among eligible nodes. @defaultValue 0 */
  readonly priority?: number;
  /** Free-form tags (membership tags). */
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * The roles enabled on the node (from its membership tags). When given, a node without the
   * role is never chosen for it; when absent, any node is assumed to be able to run it.
   */
  readonly roles?: readonly string[];
}

/**
 * What a node must offer to be eligible for a singleton role. Every given field must hold.
 * A node whose capabilities are unknown is eligible only when nothing is required.
 */
export interface RoleRequirements {
  /** At least this many CPU cores. */
  readonly minCpuCores?: number;
  /** At least this much memory in bytes. */
  readonly minRamBytes?: number;
  /** At least this many GPUs. */
  readonly minGpus?: number;
  /** One of these architectures. */
  readonly arch?: readonly string[];
  /** These tags with exactly these values. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** Why a role is being stopped. */
export type StopReason =
  /** The node shuts down (SIGTERM or `RoleManager.stop()`). */
  | 'shutdown'
  /** The role was disabled in the configuration. */
  | 'disabled'
  /** A singleton lost its lease (could not renew in time); it must stop acting at once. */
  | 'leader-lost'
  /** The role failed (start threw, it reported a failure, or health checks failed); a restart follows. */
  | 'failed'
  /** A role it depends on stopped. */
  | 'dependency-stopped'
  /** Handoff target: the handoff was aborted after `acceptHandoff`; stand down. */
  | 'handoff-aborted'
  /** Handoff source: the role now runs elsewhere; `completeHandoff` has already run. */
  | 'handed-off';

/**
 * A plain snapshot of a role for dashboards: cheap, synchronous, never throws.
 */
export interface RoleStatus {
  /** The role's software is running on this node. */
  readonly running: boolean;
  /** The role's last health verdict. */
  readonly healthy: boolean;
  /** This node holds the role's lease and acts as its leader (singletons; `false` otherwise). */
  readonly leader: boolean;
  /** When the current state began (clock ms), or `null` if never started. */
  readonly since: number | null;
  /** One line for people ("slurmctld pid 4242", "waiting for munge"). */
  readonly detail: string;
}

/** The answer of {@link Role.health}. */
export interface HealthReport {
  /** Whether the role serves correctly right now. */
  readonly healthy: boolean;
  /** Why not, or what was checked. */
  readonly detail?: string;
}

/**
 * What the old holder hands to the new one: opaque bytes (the role encodes them), at most
 * {@link MAX_HANDOFF_STATE_BYTES}. They travel through the Raft log, so never put secrets here
 * that may not be stored there.
 */
export interface HandoffState {
  /** The role's own encoding of what the target needs to warm up. */
  readonly data: Uint8Array;
}

/** The largest {@link HandoffState.data} a role may return (it is written to the Raft log). */
export const MAX_HANDOFF_STATE_BYTES = 256 * 1024;

/** The leader of a singleton role as this node knows it. */
export interface LeaderInfo {
  /** The holder's node id. */
  readonly nodeId: string;
  /** Its fencing token. */
  readonly fencingToken: number;
}

/** The cluster as roles see it: this node and the alive members. */
export interface ClusterView {
  /** This node. */
  self(): NodeRef;
  /** The members currently believed alive, this node included. */
  members(): readonly NodeRef[];
}

/**
 * Everything a role method gets. A new context is made for each start (and each handoff), so
 * `signal` and `fencingToken` belong to that one run of the role.
 */
export interface RoleContext {
  /** The role's name. */
  readonly role: string;
  /** This node. */
  readonly node: NodeRef;
  /** The cluster view (alive members). */
  readonly cluster: ClusterView;
  /**
   * Singletons acting as leader: the fencing token of this holder. Present it to everything the
   * role controls; a resource that has seen a larger token must refuse this one. `undefined` for
   * every-node roles and for a handoff target that is only warming up.
   */
  readonly fencingToken: number | undefined;
  /** The current leader of this role as this node knows it (singletons), else `undefined`. */
  leader(): LeaderInfo | undefined;
  /**
   * Whether this node may act as the role's leader at this instant: it holds the lease, the lease
   * is safely inside its TTL by this node's clock, and no handoff has quiesced it. Check it
   * before every externally visible action that is not itself fenced.
   */
  isLeader(): boolean;
  /**
   * Aborted when this run should end: the manager is stopping the role, the call timed out, or
   * (for a leader) leadership was lost. Long operations must watch it.
   */
  readonly signal: AbortSignal;
  /** A logger bound to the role. */
  readonly logger: Logger;
  /**
   * Report that the running role failed (its child process died, it lost its socket). The
   * manager stops it (`reason: 'failed'`) and restarts it with backoff. Safe to call more than once.
   */
  fail(error: Error): void;
}

/**
 * A role: software a node runs, on every node or on one elected node at a time.
 *
 * The manager never overlaps two lifecycle calls (`start`, `stop`, the handoff calls) on one role
 * instance; `status()` may be called at any time, and `health()` only while the role is running
 * and no lifecycle call is in flight. Every lifecycle call has a timeout; on timeout the context's
 * `signal` is aborted and the call counts as failed.
 */
export interface Role {
  /** Unique name within the node ('slurm-controller', 'k3s-agent', ...). */
  readonly name: string;
  /** Every node, or one elected holder at a time. */
  readonly placement: Placement;
  /** Roles (by name) that must be running on this node before this one starts. */
  readonly dependsOn?: readonly string[];
  /** Singletons: what a node must offer to hold this role. */
  readonly requires?: RoleRequirements;
  /**
   * Start serving. Resolves once the role runs (a daemon is up and answers). For a singleton it is
   * called only while this node holds the lease, with `ctx.fencingToken` set; after a handoff the
   * role was warmed by `acceptHandoff` first. Must clean up after itself if it throws.
   */
  start(ctx: RoleContext): Promise<void>;
  /**
   * Stop serving and release local resources. Idempotent: it may be called on a role that never
   * started or whose start failed half-way, and more than once.
   */
  stop(ctx: RoleContext, reason: StopReason): Promise<void>;
  /** A cheap synchronous snapshot; never throws. */
  status(): RoleStatus;
  /** A real check (ping the daemon). Called periodically while the role runs. */
  health(): Promise<HealthReport>;
  /**
   * New holder, before the old one quiesces: do the slow part of warming up (spawn the daemon in
   * standby, open files) while the old holder still serves, so it stays out of the unavailability
   * window. Must not act as leader (`ctx.fencingToken` is undefined). Optional.
   */
  warmHandoff?(ctx: RoleContext): Promise<void>;
  /**
   * Old holder, step 2 of a handoff: quiesce (stop taking new work, keep running work alive),
   * flush, and return what the target needs. From this call on the node does not act as leader.
   */
  prepareHandoff(ctx: RoleContext, to: NodeRef): Promise<HandoffState>;
  /**
   * New holder, step 3: warm up from `state` without acting as leader yet (`ctx.fencingToken` is
   * undefined). The manager then polls `health()` until healthy, moves the lease, and calls
   * `start` with the new token. Optional: without it the target goes straight to `start`.
   */
  acceptHandoff?(ctx: RoleContext, state: HandoffState): Promise<void>;
  /**
   * Old holder, step 5: the lease has moved; release what the new holder now owns. `stop(…,
   * 'handed-off')` follows.
   */
  completeHandoff(ctx: RoleContext): Promise<void>;
  /**
   * Old holder: the handoff failed before the lease moved; resume exactly as before
   * `prepareHandoff`. May be called when `prepareHandoff` threw or timed out half-way.
   */
  abortHandoff(ctx: RoleContext): Promise<void>;
}
