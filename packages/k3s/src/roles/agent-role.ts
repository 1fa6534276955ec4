/**
 * `k3s-agent`: every node that takes part in Kubernetes. It hands the node's k3s process to the
 * {@link K3sNodeRuntime}, which runs `k3s agent` pointed at the primary — or `k3s server` when
 * the cluster record lists this node as one of the servers.
 */
import type { HandoffState, HealthReport, Role, RoleContext, RoleStatus, StopReason } from '@clusteros/roles';
import type { K3sNodeRuntime } from './runtime.js';

/** The role name. */
export const K3S_AGENT_ROLE = 'k3s-agent';

/** The `k3s-agent` role (every node). */
export class K3sAgentRole implements Role {
  /** `k3s-agent`. */
  readonly name = K3S_AGENT_ROLE;
  /** Runs on every node that enables it. */
  readonly placement = 'every-node' as const;
  readonly #runtime: K3sNodeRuntime;
  #since: number | null = null;
  #acquired = false;

  /** The role over the node's shared runtime. */
  constructor(runtime: K3sNodeRuntime) {
    this.#runtime = runtime;
  }

  /** Starts following the cluster record; k3s starts as soon as the record says how. */
  async start(_ctx: RoleContext): Promise<void> {
    if (!this.#acquired) this.#runtime.acquire('agent');
    this.#acquired = true;
    this.#since = Date.now();
  }

  /** Stops k3s on this node unless the server role still needs it. */
  async stop(_ctx: RoleContext, _reason: StopReason): Promise<void> {
    if (!this.#acquired) return;
    this.#acquired = false;
    this.#since = Date.now();
    await this.#runtime.release('agent');
  }

  /** From the runtime. */
  status(): RoleStatus {
    const runtime = this.#runtime.status();
    const running = runtime.pid !== undefined;
    return {
      running,
      healthy: this.#acquired && runtime.state !== 'error' && runtime.state !== 'backoff',
      leader: false,
      since: this.#since,
      detail: running
        ? `k3s ${runtime.mode} pid ${runtime.pid}`
        : `${runtime.state}: ${runtime.lastError ?? runtime.desired?.why ?? 'not started'}`,
    };
  }

  /** Healthy while k3s serves in the mode the record asks for, or while there is nothing to run yet. */
  async health(): Promise<HealthReport> {
    const runtime = this.#runtime.status();
    const mode = runtime.desired?.mode;
    if (mode === undefined || mode === 'none')
      return { healthy: runtime.state !== 'error', detail: runtime.desired?.why ?? 'waiting' };
    if (await this.#runtime.serving(mode)) return { healthy: true, detail: `k3s ${mode} serving` };
    if (runtime.state === 'starting' || (runtime.state === 'running' && mode === 'server'))
      return { healthy: true, detail: `k3s ${mode} starting` };
    return { healthy: false, detail: runtime.lastError ?? `k3s ${mode} is ${runtime.state}` };
  }

  /** Not a singleton: never handed off. */
  async prepareHandoff(): Promise<HandoffState> {
    throw new Error('k3s-agent runs on every node and is never handed off');
  }

  /** Not a singleton. */
  async completeHandoff(): Promise<void> {}

  /** Not a singleton. */
  async abortHandoff(): Promise<void> {}
}
