/**
 * The role manager: runs the roles a node should run now. Every-node roles run whenever their
 * dependencies do; a singleton runs while this node holds its lease. The manager reconciles on
 * every applied Raft entry, every role state change and whenever the agent says the cluster view
 * changed, and it never lets two lifecycle calls of one role overlap.
 */
import { type Clock, type Random, SystemClock, systemRandom } from '@clusteros/sim';
import EventEmitter from 'eventemitter3';
import { HandoffCoordinator } from './coordinator.js';
import { LeaseElection } from './election.js';
import { isEligible, rankCandidates } from './eligibility.js';
import { RoleConfigError, RoleManagerStoppedError } from './errors.js';
import type { RoleManagerEvents } from './events.js';
import { HandoffParticipant } from './handoff.js';
import { type Logger, silentLogger } from './logger.js';
import { RAFT_ROLE, RaftTransferExecutor } from './raft-transfer.js';
import { randomId } from './random-id.js';
import { DEFAULT_KEY_PREFIX } from './records.js';
import type { ClusterView, LeaderInfo, Role, RoleStatus } from './role.js';
import {
  type RestartPolicy,
  type RolePhase,
  RoleRunner,
  type RoleTimeouts,
  type RunnerEvent,
} from './runner.js';
import { sessionStore } from './session-store.js';
import type { RoleStore } from './store.js';
import { type LeaseTiming, resolveLeaseTiming } from './timing.js';

/** Options of {@link RoleManager}. */
export interface RoleManagerOptions {
  /** The roles enabled on this node. Names must be unique; dependencies must be among them. */
  readonly roles: readonly Role[];
  /** This node and the alive members (the agent adapts membership to it). */
  readonly cluster: ClusterView;
  /** The replicated store: a `RaftNode` and its `KvStateMachine` (see the README). */
  readonly store: RoleStore;
  /** Time source. @defaultValue a `SystemClock` */
  readonly clock?: Clock;
  /** Randomness (session id, backoff jitter, handoff ids). @defaultValue `systemRandom()` */
  readonly random?: Random;
  /** Logger. @defaultValue silent */
  readonly logger?: Logger;
  /** Lease timing of singleton roles (see {@link LeaseTiming} for the clock assumption). */
  readonly lease?: Partial<LeaseTiming>;
  /** Restart and health policy. */
  readonly restart?: Partial<RestartPolicy>;
  /** Timeouts of role calls. */
  readonly timeouts?: Partial<RoleTimeouts>;
  /** Default handoff timeout (steps before the lease moves). @defaultValue 10000 */
  readonly handoffTimeoutMs?: number;
  /** How often a handoff target polls `health()` while warming up. @defaultValue 20 */
  readonly handoffHealthPollMs?: number;
  /** Prefix of the keys roles write. @defaultValue `'/clusteros/'` */
  readonly keyPrefix?: string;
}

/** Options of {@link RoleManager.stop}. */
export interface RoleManagerStopOptions {
  /**
   * Hand each singleton role this node holds to the best eligible member before stopping (what
   * SIGTERM should do). If no member is eligible or the handoff fails, the lease is released so
   * another node can take the role at once. @defaultValue true
   */
  readonly handoff?: boolean;
  /** Per-role handoff timeout. @defaultValue the manager's `handoffTimeoutMs` */
  readonly handoffTimeoutMs?: number;
}

/** One role's state on this node, for dashboards (`statuses()`). */
export interface RoleStatusReport extends RoleStatus {
  /** The role's name. */
  readonly role: string;
  /** Its placement. */
  readonly placement: Role['placement'];
  /** The manager's phase for it. */
  readonly phase: RolePhase;
  /** This node's fencing token while it leads (singletons). */
  readonly fencingToken: number | undefined;
  /** The current holder's node id as this node knows it (singletons). */
  readonly holder: string | undefined;
  /** Consecutive failures. */
  readonly failures: number;
  /** The last failure. */
  readonly lastError: string | undefined;
  /** Clock time of the next restart attempt while in backoff. */
  readonly retryAt: number | undefined;
}

/** The holder of one singleton role (or of Raft leadership, `role: 'raft'`). */
export interface LeaderReport {
  /** The role. */
  readonly role: string;
  /** The holder's node id, or `null` when free. */
  readonly nodeId: string | null;
  /** The holder's fencing token (`raft`: the term is not reported here; `null`). */
  readonly fencingToken: number | null;
}

interface Managed {
  readonly role: Role;
  readonly runner: RoleRunner;
  readonly election: LeaseElection | undefined;
}

const DEFAULT_TIMEOUTS: RoleTimeouts = {
  startMs: 30_000,
  stopMs: 30_000,
  handoffMs: 10_000,
  healthMs: 5_000,
};
const DEFAULT_RESTART: RestartPolicy = {
  baseMs: 500,
  maxMs: 30_000,
  unhealthyAfter: 5,
  stableAfterMs: 60_000,
  healthIntervalMs: 5_000,
  healthFailures: 3,
};

/** Orders roles so that each comes after its dependencies; throws on unknown names and cycles. */
function dependencyOrder(roles: readonly Role[]): Role[] {
  const byName = new Map<string, Role>();
  for (const role of roles) {
    if (
      typeof role.name !== 'string' ||
      role.name.length === 0 ||
      role.name.length > 128 ||
      role.name.includes('/')
    )
      throw new RoleConfigError(
        `role names must be 1-128 characters without '/', got ${JSON.stringify(role.name)}`,
      );
    if (role.name === RAFT_ROLE)
      throw new RoleConfigError(`the role name ${RAFT_ROLE} is reserved for Raft leadership`);
    if (byName.has(role.name)) throw new RoleConfigError(`role ${role.name} is enabled twice`);
    if (role.placement !== 'every-node' && role.placement !== 'singleton')
      throw new RoleConfigError(`role ${role.name} has unknown placement ${String(role.placement)}`);
    byName.set(role.name, role);
  }
  const order: Role[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (role: Role, path: string[]): void => {
    if (state.get(role.name) === 'done') return;
    if (state.get(role.name) === 'visiting')
      throw new RoleConfigError(
        `roles depend on each other in a cycle: ${[...path, role.name].join(' -> ')}`,
      );
    state.set(role.name, 'visiting');
    for (const dep of role.dependsOn ?? []) {
      const target = byName.get(dep);
      if (target === undefined)
        throw new RoleConfigError(`role ${role.name} depends on ${dep}, which is not enabled`);
      visit(target, [...path, role.name]);
    }
    state.set(role.name, 'done');
    order.push(role);
  };
  for (const role of roles) visit(role, []);
  return order;
}

/**
 * Runs a node's roles: starts and stops them in dependency order, restarts failures with capped
 * exponential backoff, elects a holder per singleton role with fenced Raft leases, takes part in
 * handoffs, and (with {@link RoleManager.stop}) hands its singleton roles over before the node
 * leaves.
 *
 * ```ts
 * const manager = new RoleManager({ roles, cluster, store: { log: raftNode, view: kvMachine, raft: raftNode } });
 * manager.on('leader-acquired', ({ role, fencingToken }) => log.info({ role, fencingToken }, 'leading'));
 * manager.start();
 * await manager.coordinator.transfer('slurm-controller', 'node-b');
 * await manager.stop(); // hands singletons over, then stops every role
 * ```
 */
export class RoleManager extends EventEmitter<RoleManagerEvents> {
  /** Starts planned handoffs: `manager.coordinator.transfer(role, to, { timeoutMs })`. */
  readonly coordinator: HandoffCoordinator;
  /** This run's session id (random per start of the node). */
  readonly session: string;
  readonly #roles: Managed[];
  readonly #byName = new Map<string, Managed>();
  readonly #store: RoleStore;
  readonly #cluster: ClusterView;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #timing: LeaseTiming;
  readonly #keyPrefix: string;
  readonly #handoffTimeoutMs: number;
  readonly #participant: HandoffParticipant;
  readonly #raftTransfers: RaftTransferExecutor;
  readonly #onApply = (): void => this.reconcile();
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #reconciling = false;
  #again = false;

  /** Checks the options (throws {@link RoleConfigError}) and builds a stopped manager. */
  constructor(options: RoleManagerOptions) {
    super();
    const clock = options.clock ?? new SystemClock();
    const random = options.random ?? systemRandom();
    const logger = options.logger ?? silentLogger;
    this.#cluster = options.cluster;
    this.#clock = clock;
    this.#logger = logger;
    this.#timing = resolveLeaseTiming(options.lease);
    this.#keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.#handoffTimeoutMs = options.handoffTimeoutMs ?? 10_000;
    if (!(this.#handoffTimeoutMs > 0)) throw new RoleConfigError('handoffTimeoutMs must be positive');
    this.session = randomId(random);
    const store = sessionStore(options.store, this.session);
    this.#store = store;
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const restart = { ...DEFAULT_RESTART, ...options.restart };
    for (const [name, value] of Object.entries({ ...timeouts, ...restart }))
      if (!(typeof value === 'number' && value > 0 && Number.isFinite(value)))
        throw new RoleConfigError(`${name} must be a positive number, got ${String(value)}`);
    const self = options.cluster.self();
    const nodeId = self.id;

    this.#roles = dependencyOrder(options.roles).map((role) => {
      let election: LeaseElection | undefined;
      const runner = new RoleRunner({
        role,
        clock,
        random: random.fork(`runner:${role.name}`),
        logger,
        node: self,
        cluster: options.cluster,
        timeouts,
        restart,
        leaderInfo: () => this.#leaderOf(role.name),
        mayLead: (token) => election?.isHolder() === true && election.held?.token === token,
        onEvent: (event) => this.#onRunnerEvent(role, event),
        onChange: () => this.reconcile(),
      });
      if (role.placement === 'singleton') {
        election = new LeaseElection({
          role: role.name,
          nodeId,
          session: this.session,
          store,
          clock,
          random: random.fork(`election:${role.name}`),
          timing: this.#timing,
          keyPrefix: this.#keyPrefix,
          logger,
          canCampaign: () => this.#canCampaign(role.name),
          rank: () => this.#rank(role),
        });
        election.on('acquired', (fencingToken) => {
          this.emit('leader-acquired', { role: role.name, fencingToken });
          this.reconcile();
        });
        election.on('lost', (fencingToken, reason) => {
          this.emit('leader-lost', { role: role.name, fencingToken, reason });
          this.reconcile();
        });
      }
      const managed: Managed = { role, runner, election };
      this.#byName.set(role.name, managed);
      return managed;
    });

    this.#participant = new HandoffParticipant({
      nodeId,
      session: this.session,
      store,
      clock,
      timing: this.#timing,
      keyPrefix: this.#keyPrefix,
      cluster: options.cluster,
      logger,
      healthPollMs: options.handoffHealthPollMs ?? 20,
      emit: (event, ...args) => this.emit(event, ...args),
      reconcile: () => this.reconcile(),
    });
    this.#raftTransfers = new RaftTransferExecutor(store, this.#keyPrefix, nodeId, logger);
    this.coordinator = new HandoffCoordinator({
      store,
      clock,
      random: random.fork('coordinator'),
      cluster: options.cluster,
      keyPrefix: this.#keyPrefix,
      timing: this.#timing,
      logger,
      defaultTimeoutMs: this.#handoffTimeoutMs,
      requirements: (name) => this.#byName.get(name)?.role.requires,
    });
  }

  /** The resolved lease timing. */
  get leaseTiming(): LeaseTiming {
    return this.#timing;
  }

  /** Starts reconciling: every-node roles start, singleton elections begin. */
  start(): void {
    if (this.#state !== 'new') throw new RoleManagerStoppedError();
    this.#state = 'running';
    this.#store.log.on('apply', this.#onApply);
    for (const managed of this.#roles) managed.election?.start();
    this.reconcile();
  }

  /**
   * Brings every role to where it should be now. Called automatically on store changes and role
   * events; the agent also calls it when the membership view changes (eligibility and ranks).
   */
  reconcile(): void {
    if (this.#state === 'new' || this.#state === 'stopped') return;
    if (this.#reconciling) {
      this.#again = true;
      return;
    }
    this.#reconciling = true;
    try {
      do {
        this.#again = false;
        for (const managed of this.#roles) this.#reconcileRole(managed);
        if (this.#state === 'running') this.#raftTransfers.evaluate();
      } while (this.#again);
    } finally {
      this.#reconciling = false;
    }
  }

  /** Whether `role` is acting on this node now (running; for a singleton, holding a safe lease). */
  isActing(role: string): boolean {
    return this.#byName.get(role)?.runner.isActing() ?? false;
  }

  /** A status line per enabled role, for the dashboard. */
  statuses(): RoleStatusReport[] {
    return this.#roles.map(({ role, runner, election }) => {
      let own: RoleStatus | undefined;
      try {
        own = role.status();
      } catch {
        own = undefined;
      }
      const leading = runner.isActing() && election !== undefined;
      return {
        role: role.name,
        placement: role.placement,
        phase: runner.phase,
        running: runner.phase === 'running' || runner.phase === 'quiesced',
        healthy: runner.healthy && (own?.healthy ?? true),
        leader: leading,
        since: runner.since,
        detail:
          own?.detail ?? (runner.lastError !== undefined ? `last error: ${runner.lastError}` : runner.phase),
        fencingToken: leading ? runner.token : undefined,
        holder: election?.holder()?.record.holder,
        failures: runner.failures,
        lastError: runner.lastError,
        retryAt: runner.retryAt,
      };
    });
  }

  /** The holder of each singleton role enabled here, and the Raft leader if the store has one. */
  leaders(): LeaderReport[] {
    const reports: LeaderReport[] = [];
    for (const { role, election } of this.#roles) {
      if (election === undefined) continue;
      const holder = election.holder();
      reports.push({
        role: role.name,
        nodeId: holder?.record.holder ?? null,
        fencingToken: holder?.token ?? null,
      });
    }
    if (this.#store.raft !== undefined)
      reports.push({ role: 'raft', nodeId: this.#store.raft.leader, fencingToken: null });
    return reports;
  }

  /**
   * Stops the node's roles: first hands each held singleton to the best eligible member (or
   * releases its lease), then stops every role in reverse dependency order with reason
   * `'shutdown'`. Resolves when all are stopped.
   */
  async stop(options: RoleManagerStopOptions = {}): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    const timeoutMs = options.handoffTimeoutMs ?? this.#handoffTimeoutMs;
    await Promise.all(
      this.#roles
        .filter((m) => m.election?.isHolder() === true)
        .map((m) => this.#handOver(m, options.handoff !== false, timeoutMs)),
    );
    for (const managed of [...this.#roles].reverse()) {
      await managed.election?.release();
      await managed.runner.stop('shutdown');
    }
    for (const managed of this.#roles) {
      managed.election?.stop();
      managed.runner.dispose();
    }
    this.#store.log.off('apply', this.#onApply);
    this.#state = 'stopped';
  }

  async #handOver(managed: Managed, handoff: boolean, timeoutMs: number): Promise<void> {
    const name = managed.role.name;
    const self = this.#cluster.self().id;
    const best = handoff
      ? rankCandidates(this.#cluster.members(), name, managed.role.requires).find((node) => node.id !== self)
      : undefined;
    if (best !== undefined) {
      try {
        await this.coordinator.transfer(name, best.id, { timeoutMs });
        return;
      } catch (error) {
        this.#logger.warn(
          { role: name, to: best.id, err: (error as Error).message },
          'handoff at shutdown failed; releasing',
        );
      }
    }
    // Wait out any handoff step in flight before giving the lease up.
    await managed.runner.idle();
    await managed.runner.stop('shutdown');
    await managed.election?.release();
  }

  #reconcileRole(managed: Managed): void {
    const { role, runner, election } = managed;
    const stopping = this.#state !== 'running';
    const depsUp = (role.dependsOn ?? []).every((dep) => {
      const phase = this.#byName.get(dep)?.runner.phase;
      return phase === 'running' || phase === 'quiesced';
    });
    if (election !== undefined) {
      this.#participant.evaluate(role.name, { runner, election });
      if (stopping) return;
      if (this.#participant.busy(role.name)) {
        // A handoff target whose lease has moved starts as the new holder.
        const held = election.held;
        if (runner.phase === 'warming' && held !== undefined && election.isHolder())
          void runner.start(held.token);
        return;
      }
      election.evaluate();
      const held = election.held;
      const holding = held !== undefined && election.isHolder();
      if (holding && runner.unhealthy && runner.phase === 'backoff') {
        // It failed again after too many failures: give the role to a node that can run it.
        void election.release();
        return;
      }
      if (holding && !depsUp) {
        void runner.stop('dependency-stopped').then(() => election.release());
        return;
      }
      if (holding && (runner.phase === 'stopped' || runner.phase === 'warming'))
        void runner.start(held.token);
      else if (
        !holding &&
        (runner.phase === 'running' || runner.phase === 'starting' || runner.phase === 'warming')
      )
        void runner.stop('leader-lost');
      else if (holding && runner.phase === 'running' && runner.token !== held.token)
        void runner.stop('leader-lost');
      return;
    }
    if (stopping) return;
    if (depsUp && runner.phase === 'stopped') void runner.start(undefined);
    else if (!depsUp && (runner.phase === 'running' || runner.phase === 'starting'))
      void runner.stop('dependency-stopped');
  }

  #canCampaign(name: string): boolean {
    const managed = this.#byName.get(name);
    if (managed === undefined || this.#state !== 'running') return false;
    if (managed.runner.phase !== 'stopped') return false;
    if (this.#participant.busy(name)) return false;
    if (!isEligible(this.#cluster.self(), name, managed.role.requires)) return false;
    return (managed.role.dependsOn ?? []).every((dep) => this.#byName.get(dep)?.runner.phase === 'running');
  }

  #rank(role: Role): number {
    const self = this.#cluster.self().id;
    const ranked = rankCandidates(this.#cluster.members(), role.name, role.requires);
    const index = ranked.findIndex((node) => node.id === self);
    // An unhealthy node still contests (someone must hold the role), but last; and a node not in
    // the view yet (membership still converging) lets the listed candidates go first.
    if (this.#byName.get(role.name)?.runner.unhealthy === true) return Math.max(3, ranked.length);
    return index === -1 ? ranked.length : index;
  }

  #leaderOf(name: string): LeaderInfo | undefined {
    const holder = this.#byName.get(name)?.election?.holder();
    return holder === undefined ? undefined : { nodeId: holder.record.holder, fencingToken: holder.token };
  }

  #onRunnerEvent(role: Role, event: RunnerEvent): void {
    switch (event.type) {
      case 'started':
        this.emit('started', {
          role: role.name,
          leader: event.token !== undefined,
          fencingToken: event.token,
        });
        break;
      case 'stopped':
        this.emit('stopped', { role: role.name, reason: event.reason });
        break;
      case 'failed':
        this.emit('failed', {
          role: role.name,
          error: event.error,
          failures: event.failures,
          retryInMs: event.retryInMs,
          unhealthy: event.unhealthy,
        });
        break;
    }
  }
}
