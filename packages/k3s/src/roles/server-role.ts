/**
 * `k3s-server`: the singleton that holds the cluster's primary duties. Its holder
 *
 * - creates the join token once (create-only: a token someone else created first wins);
 * - writes the cluster record: itself as primary, the server set filled up to the configured
 *   count (1, 3 or 5) from the members that enable `k3s-server`, and whether the cluster was
 *   bootstrapped — the first holder starts `k3s server --cluster-init`, every later server joins;
 * - cleans up a retirement that a crash interrupted (uncordons the node, or finishes removing it);
 * - hands its duties over without losing a pod or etcd quorum: the target joins as a server
 *   while the holder still serves (`warmHandoff`, 3 → 4 voters), the holder checks the voters,
 *   cordons, drains, moves etcd leadership away, has its etcd member removed and stops
 *   (`prepareHandoff`, see {@link retireServer}), and the target verifies in its own etcd that
 *   the member is gone and deletes the old Node (`acceptHandoff`) before it takes over (4 → 3).
 *
 * The k3s process itself belongs to the node's {@link K3sNodeRuntime}, which `k3s-agent` also
 * uses; `k3s-server` depends on `k3s-agent`, so a listed server that is not the primary keeps
 * running `k3s server` through the agent role.
 */
import { randomBytes } from 'node:crypto';
import type {
  HandoffState,
  HealthReport,
  NodeRef,
  Role,
  RoleContext,
  RoleStatus,
  StopReason,
} from '@clusteros/roles';
import { isMemberOf } from '../etcd/index.js';
import { type DrainOptions, K3S_ETCD_ANNOTATIONS, realSleep } from '../kube/index.js';
import { K3sToken, wipeServerDb } from '../process/index.js';
import { K3S_AGENT_ROLE } from './agent-role.js';
import { K3sHandoffError } from './errors.js';
import { type K3sLogger, silentK3sLogger } from './logger.js';
import { retireServer, undoRetirement } from './retire.js';
import type { K3sNodeRuntime } from './runtime.js';
import { type K3sServerCount, planServers, sameServers } from './server-set.js';
import {
  encodeClusterRecord,
  encodeRetiringRecord,
  K3S_STORE_KEYS,
  type K3sClusterRecord,
  type K3sRetiringStep,
  type K3sServerEntry,
  readClusterRecord,
  readRetiringRecord,
} from './store.js';

/** The role name. */
export const K3S_SERVER_ROLE = 'k3s-server';

/** Options of {@link K3sServerRole}. */
export interface K3sServerRoleOptions {
  /** The node's shared k3s runtime. */
  readonly runtime: K3sNodeRuntime;
  /** How many servers (embedded-etcd voters) the cluster keeps. @defaultValue 3 */
  readonly servers?: K3sServerCount;
  /** A member's cluster address (its Tailscale IPv4), or `undefined` when it has none yet. */
  readonly addressOf: (node: NodeRef) => string | undefined;
  /** How often the holder re-plans the server set. @defaultValue 5000 */
  readonly reconcileEveryMs?: number;
  /** Drain options for a handoff (timeouts, PodDisruptionBudget retry period). */
  readonly drain?: DrainOptions;
  /** How long k3s may take to remove the old server's etcd member. @defaultValue 120000 */
  readonly removalTimeoutMs?: number;
  /** Random bytes for a new join token. @defaultValue node:crypto */
  readonly randomBytes?: (size: number) => Uint8Array;
  /** Logger. */
  readonly logger?: K3sLogger;
}

/** What the old holder hands over: the server it retired. */
interface RetiredState {
  readonly retired: K3sServerEntry;
}

function encodeState(state: RetiredState): HandoffState {
  return { data: new TextEncoder().encode(JSON.stringify(state)) };
}

function decodeState(state: HandoffState): RetiredState | undefined {
  try {
    const raw = JSON.parse(new TextDecoder().decode(state.data)) as {
      retired?: { node?: unknown; address?: unknown };
    };
    const node = raw.retired?.node;
    const address = raw.retired?.address;
    return typeof node === 'string' && typeof address === 'string'
      ? { retired: { node, address } }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The `k3s-server` role (singleton; see the module comment). */
export class K3sServerRole implements Role {
  /** `k3s-server`. */
  readonly name = K3S_SERVER_ROLE;
  /** One holder at a time. */
  readonly placement = 'singleton' as const;
  /** A listed server keeps running through `k3s-agent` while it is not the primary. */
  readonly dependsOn = [K3S_AGENT_ROLE] as const;
  readonly #o: K3sServerRoleOptions;
  readonly #runtime: K3sNodeRuntime;
  readonly #logger: K3sLogger;
  readonly #count: K3sServerCount;
  #acquired = false;
  #leader = false;
  #since: number | null = null;
  #reconcile: NodeJS.Timeout | undefined;
  #added: string | undefined;
  #step: K3sRetiringStep | undefined;

  /** The role over the node's shared runtime. */
  constructor(options: K3sServerRoleOptions) {
    this.#o = options;
    this.#runtime = options.runtime;
    this.#logger = options.logger ?? silentK3sLogger;
    this.#count = options.servers ?? 3;
  }

  #acquire(): void {
    if (this.#acquired) return;
    this.#acquired = true;
    this.#runtime.acquire('server');
  }

  #self(ctx: RoleContext): K3sServerEntry {
    const address = this.#o.addressOf(ctx.node);
    if (address === undefined)
      throw new K3sHandoffError('refused', `${ctx.node.id} has no cluster address yet`);
    return { node: ctx.node.id, address };
  }

  async #write(ctx: RoleContext, record: Omit<K3sClusterRecord, 'token' | 'seq'>): Promise<K3sClusterRecord> {
    const token = ctx.fencingToken;
    if (token === undefined)
      throw new K3sHandoffError('refused', 'only the holder writes the cluster record');
    const current = readClusterRecord(this.#runtime.store);
    // The store has no compare-and-swap: check the fence here, so that a holder that lost the
    // role (or a quiesced one) can never put an older record over a newer holder's.
    if (current !== undefined && current.token > token)
      throw new K3sHandoffError(
        'refused',
        `a newer k3s-server holder (token ${current.token}) wrote the cluster record`,
      );
    const seq = current !== undefined && current.token === token ? current.seq + 1 : 0;
    const next: K3sClusterRecord = { ...record, token, seq };
    await this.#runtime.store.put(K3S_STORE_KEYS.cluster, encodeClusterRecord(next));
    return next;
  }

  async #setStep(node: string, step: K3sRetiringStep | undefined): Promise<void> {
    this.#step = step;
    await this.#runtime.store.put(
      K3S_STORE_KEYS.retiring,
      step === undefined ? new Uint8Array() : encodeRetiringRecord({ node, step, at: Date.now() }),
    );
  }

  async #ensureToken(): Promise<void> {
    if (this.#runtime.store.get(K3S_STORE_KEYS.token) !== undefined) return;
    const bytes = (this.#o.randomBytes ?? randomBytes)(32);
    const token = K3sToken.fromString(Buffer.from(bytes).toString('hex'));
    await this.#runtime.store.create(K3S_STORE_KEYS.token, new TextEncoder().encode(token.reveal()));
  }

  #candidates(ctx: RoleContext): K3sServerEntry[] {
    const entries: { entry: K3sServerEntry; priority: number }[] = [];
    for (const member of ctx.cluster.members()) {
      if (member.id === ctx.node.id) continue;
      if (member.roles !== undefined && !member.roles.includes(K3S_SERVER_ROLE)) continue;
      const address = this.#o.addressOf(member);
      if (address === undefined) continue;
      entries.push({ entry: { node: member.id, address }, priority: member.priority ?? 0 });
    }
    entries.sort((a, b) => b.priority - a.priority || a.entry.node.localeCompare(b.entry.node));
    return entries.map((item) => item.entry);
  }

  /** Re-plans the server set and writes the record when it changed. */
  async #plan(ctx: RoleContext, initialized?: boolean): Promise<K3sClusterRecord> {
    const current = readClusterRecord(this.#runtime.store);
    const servers = planServers(current?.servers ?? [], this.#self(ctx), this.#candidates(ctx), this.#count);
    const next = { primary: ctx.node.id, servers, initialized: initialized ?? current?.initialized ?? false };
    if (
      current !== undefined &&
      current.token === ctx.fencingToken &&
      current.primary === next.primary &&
      current.initialized === next.initialized &&
      sameServers(current.servers, servers)
    )
      return current;
    this.#logger.info({ servers: servers.map((entry) => entry.node) }, 'k3s cluster record');
    return this.#write(ctx, next);
  }

  /** A retirement a crash interrupted: undo it, or finish taking the node out of the record. */
  async #cleanUpRetiring(ctx: RoleContext): Promise<void> {
    const retiring = readRetiringRecord(this.#runtime.store);
    if (retiring === undefined) return;
    if (retiring.step === 'cordoned' || retiring.step === 'draining') {
      this.#logger.warn({ node: retiring.node }, 'undoing an interrupted k3s server retirement (uncordon)');
      await undoRetirement(() => this.#runtime.kube(), retiring.node, ctx.signal);
    } else {
      this.#logger.warn({ node: retiring.node }, 'finishing an interrupted k3s server retirement');
      const current = readClusterRecord(this.#runtime.store);
      if (current !== undefined && ctx.fencingToken !== undefined)
        await this.#write(ctx, {
          ...current,
          servers: current.servers.filter((entry) => entry.node !== retiring.node),
        });
      await (await this.#runtime.kube()).deleteNode(retiring.node, ctx.signal).catch(() => undefined);
    }
    await this.#setStep(retiring.node, undefined);
  }

  /** Holder: token, record, own server up; then keeps the server set planned. */
  async start(ctx: RoleContext): Promise<void> {
    this.#acquire();
    this.#since = Date.now();
    await this.#ensureToken();
    let record = await this.#plan(ctx);
    await this.#runtime.waitServing('server', ctx.signal);
    await this.#cleanUpRetiring(ctx);
    if (!record.initialized) record = await this.#plan(ctx, true);
    this.#leader = true;
    this.#logger.info({ servers: record.servers.length }, 'k3s primary serving');
    this.#startReconcile(ctx);
  }

  /** Re-plans the server set every `reconcileEveryMs` while this node acts as primary. */
  #startReconcile(ctx: RoleContext): void {
    this.#stopReconcile();
    this.#reconcile = setInterval(() => {
      if (!ctx.isLeader() || ctx.signal.aborted) return;
      this.#plan(ctx).catch((error: unknown) =>
        this.#logger.warn({ err: (error as Error).message }, 'could not re-plan the k3s servers'),
      );
    }, this.#o.reconcileEveryMs ?? 5_000);
    this.#reconcile.unref?.();
  }

  #stopReconcile(): void {
    if (this.#reconcile !== undefined) clearInterval(this.#reconcile);
    this.#reconcile = undefined;
  }

  /** Stops acting as primary; the k3s process stays with the runtime while the agent role runs. */
  async stop(_ctx: RoleContext, _reason: StopReason): Promise<void> {
    this.#stopReconcile();
    this.#leader = false;
    this.#since = Date.now();
    // A target that warmed up for a handoff that did not happen is not a server: the runtime
    // takes it out of etcd again. A listed server is unaffected (the record keeps it one).
    this.#runtime.setServerOverride(false);
    if (this.#acquired) {
      this.#acquired = false;
      await this.#runtime.release('server');
    }
  }

  /** From the runtime. */
  status(): RoleStatus {
    const runtime = this.#runtime.status();
    return {
      running: runtime.mode === 'server' && runtime.pid !== undefined,
      healthy: runtime.state === 'running',
      leader: this.#leader,
      since: this.#since,
      detail:
        this.#step !== undefined
          ? `retiring: ${this.#step}`
          : runtime.pid !== undefined
            ? `k3s ${runtime.mode} pid ${runtime.pid}`
            : `${runtime.state}: ${runtime.lastError ?? runtime.desired?.why ?? 'not started'}`,
    };
  }

  /** Healthy while this node's k3s server answers `/readyz`. */
  async health(): Promise<HealthReport> {
    if (await this.#runtime.serving('server')) return { healthy: true, detail: 'k3s server ready' };
    const runtime = this.#runtime.status();
    return { healthy: false, detail: runtime.lastError ?? `k3s server is ${runtime.state}` };
  }

  /** Target: join as a server now (the replacement comes in before the old server leaves). */
  async warmHandoff(ctx: RoleContext): Promise<void> {
    this.#acquire();
    const record = readClusterRecord(this.#runtime.store);
    if (record === undefined) throw new K3sHandoffError('refused', 'no k3s cluster record');
    if (!record.servers.some((entry) => entry.node === ctx.node.id)) this.#runtime.setServerOverride(true);
    const self = this.#self(ctx);
    for (;;) {
      if (await this.#runtime.serving('server', ctx.signal)) {
        const members = await (await this.#runtime.etcd()).listMembers(ctx.signal).catch(() => []);
        if (members.some((member) => isMemberOf(member, self.node, self.address) && !member.isLearner))
          return;
      }
      await realSleep(250, ctx.signal);
    }
  }

  /** Old holder: retire this server (see {@link retireServer}); returns which server left. */
  async prepareHandoff(ctx: RoleContext, to: NodeRef): Promise<HandoffState> {
    // Quiesced: no more re-planning (the record changes only through the handoff's own steps).
    this.#stopReconcile();
    this.#leader = false;
    const self = this.#self(ctx);
    const address = this.#o.addressOf(to);
    if (address === undefined) throw new K3sHandoffError('refused', `${to.id} has no cluster address`);
    const replacement = { node: to.id, address };
    const record = readClusterRecord(this.#runtime.store);
    if (record === undefined) throw new K3sHandoffError('refused', 'no k3s cluster record');
    if (!record.servers.some((entry) => entry.node === to.id)) {
      this.#added = to.id;
      await this.#write(ctx, { ...record, servers: [...record.servers, replacement] });
    }
    // Never fewer voters than before the handoff (up to the configured count): 3 → 4 → 3 with
    // a new replacement; handing the duties to a node that already is a server would go
    // 3 → 2, so that is refused (hand them to a node that is not a server yet).
    const before = record.servers.filter((entry) => entry.node !== this.#added).length;
    const etcd = await this.#runtime.etcd();
    const kube = await this.#runtime.kube();
    await retireServer({
      self,
      replacement,
      etcd,
      kube,
      minVoters: Math.min(before, this.#count),
      ...(this.#o.drain === undefined ? {} : { drain: this.#o.drain }),
      ...(this.#o.removalTimeoutMs === undefined ? {} : { removalTimeoutMs: this.#o.removalTimeoutMs }),
      onStep: async (step) => {
        // From here on k3s exits by itself (its member is gone) and must not be restarted.
        if (step === 'removing') await this.#runtime.hold('no-restart');
        await this.#setStep(self.node, step);
      },
      exitedRemoved: () => this.#runtime.lastExit()?.removed === true && this.#runtime.pid === undefined,
      signal: ctx.signal,
      logger: this.#logger,
    });
    // The member is gone: stop what is left of this server and never restart it on its old data.
    const stopped = AbortSignal.any([ctx.signal, AbortSignal.timeout(30_000)]);
    await this.#runtime.waitStopped(stopped).catch(() => undefined);
    await this.#runtime.hold('stopped');
    this.#runtime.markRemoved();
    await wipeServerDb(this.#runtime.dataDir);
    const latest = readClusterRecord(this.#runtime.store) ?? record;
    await this.#write(ctx, {
      ...latest,
      servers: latest.servers.filter((entry) => entry.node !== self.node),
    });
    return encodeState({ retired: self });
  }

  /** Target: check in this node's etcd that the old server's member is gone, then delete its Node. */
  async acceptHandoff(ctx: RoleContext, state: HandoffState): Promise<void> {
    this.#acquire();
    const decoded = decodeState(state);
    if (decoded === undefined) throw new K3sHandoffError('refused', 'handoff state is not a k3s retirement');
    const { retired } = decoded;
    const etcd = await this.#runtime.etcd();
    for (let tries = 0; ; tries += 1) {
      const members = await etcd.listMembers(ctx.signal);
      if (!members.some((member) => isMemberOf(member, retired.node, retired.address))) break;
      if (tries >= 150)
        throw new K3sHandoffError(
          'etcd',
          `the etcd member of ${retired.node} is still listed after its removal`,
        );
      await realSleep(200, ctx.signal);
    }
    // Deleting the Node promptly after removal is what k3s expects (its controller otherwise
    // keeps retrying on the stale annotations); its finalizer sees "member not found" and lets go.
    await (await this.#runtime.kube()).deleteNode(retired.node, ctx.signal);
  }

  /** Old holder: the target took over; let the runtime follow the record (agent mode, if enabled). */
  async completeHandoff(ctx: RoleContext): Promise<void> {
    await this.#setStep(ctx.node.id, undefined);
    this.#added = undefined;
    await this.#runtime.hold('no');
  }

  /**
   * Whether this node's etcd member is still listed; if so, the remove annotation is taken off
   * again so that k3s does not remove it later. `false` when the member is gone or etcd cannot
   * tell (this node's k3s exits once its member is removed).
   */
  async #withdrawRemoval(ctx: RoleContext, signal: AbortSignal): Promise<boolean> {
    try {
      const self = this.#self(ctx);
      const members = await (await this.#runtime.etcd()).listMembers(signal);
      if (!members.some((member) => isMemberOf(member, self.node, self.address))) return false;
      await (await this.#runtime.kube()).annotateNode(
        self.node,
        { [K3S_ETCD_ANNOTATIONS.remove]: null },
        signal,
      );
      this.#logger.warn({}, 'k3s handoff aborted before the etcd member removal: request withdrawn');
      return true;
    } catch {
      return false;
    }
  }

  /** Old holder: undo what can be undone before the member removal; after it, rejoin as a new member. */
  async abortHandoff(ctx: RoleContext): Promise<void> {
    const bounded = AbortSignal.any([ctx.signal, AbortSignal.timeout(60_000)]);
    let step = this.#step;
    // The removal was asked for but may not have happened (k3s's controller timed out, say):
    // if this node's member is still there, withdraw the request and undo like before it.
    if (step === 'removing' && (await this.#withdrawRemoval(ctx, bounded))) step = 'draining';
    if (step === 'removing' || step === 'removed') {
      this.#logger.warn(
        { step },
        'k3s handoff aborted after the etcd member was removed: rejoining as a new member',
      );
      this.#runtime.markRemoved();
    } else if (step !== undefined) await undoRetirement(() => this.#runtime.kube(), ctx.node.id, bounded);
    const record = readClusterRecord(this.#runtime.store);
    if (record !== undefined && ctx.fencingToken !== undefined) {
      // The replacement joined only for this handoff: take it out again (its runtime leaves etcd).
      const servers = record.servers.filter((entry) => entry.node !== this.#added);
      const self = this.#self(ctx);
      if (!servers.some((entry) => entry.node === self.node)) servers.unshift(self);
      if (!sameServers(servers, record.servers)) await this.#write(ctx, { ...record, servers });
    }
    this.#added = undefined;
    await this.#setStep(ctx.node.id, undefined);
    await this.#runtime.hold('no');
    this.#leader = true;
    this.#startReconcile(ctx);
  }
}
