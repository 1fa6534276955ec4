/**
 * `slurm-worker`: slurmd on every node that enables it. The node's runtime brings munged and
 * follows the controller record; the worker starts slurmd once the record lists this node and the
 * controller answers, supervises it (an exit is reported to the role manager, which restarts the
 * role with backoff), and on shutdown drains the node before stopping slurmd. Stopping slurmd
 * never stops jobs: their step daemons outlive it (SLURM-NOTES §6.4).
 */
import { open, stat } from 'node:fs/promises';
import type { HandoffState, HealthReport, Role, RoleContext, RoleStatus, StopReason } from '@clusteros/roles';
import { SLURM_WORKER_ROLE } from '../cluster/nodes.js';
import { slurmDaemonFiles } from '../conf/render.js';
import { runSlurmCommand } from '../daemons/command.js';
import type { SlurmDaemon } from '../daemons/daemon.js';
import { startSlurmd } from '../daemons/start.js';
import { stopStrayDaemon } from '../daemons/stray.js';
import { parseScontrolPing } from '../parse/scontrol.js';
import { SlurmRoleError } from './errors.js';
import type { SlurmNodeRuntime } from './node-runtime.js';
import { SLURM_STORE_KEYS, type SlurmControllerRecord } from './store.js';

/** Options of {@link SlurmWorkerRole}. */
export interface SlurmWorkerRoleOptions {
  /** The node's SLURM runtime (shared with the controller role). */
  readonly runtime: SlurmNodeRuntime;
  /** How long slurmd may take to register as usable. @defaultValue 60000 */
  readonly slurmdStartMs?: number;
  /** Wall clock (ms) for status lines. @defaultValue Date.now */
  readonly now?: () => number;
}

/** slurmd on this node (see the module comment). */
export class SlurmWorkerRole implements Role {
  /** `slurm-worker`. */
  readonly name = SLURM_WORKER_ROLE;
  /** One per node. */
  readonly placement = 'every-node' as const;
  readonly #runtime: SlurmNodeRuntime;
  readonly #startMs: number;
  readonly #now: () => number;
  #slurmd: SlurmDaemon | undefined;
  #starting: Promise<void> | undefined;
  #running = false;
  #since: number | null = null;
  #detail = 'stopped';
  #unsubscribe: (() => void)[] = [];
  #logOffset = 0;

  /** Creates the role. */
  constructor(options: SlurmWorkerRoleOptions) {
    this.#runtime = options.runtime;
    this.#startMs = options.slurmdStartMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The PID of the slurmd this role runs, or `undefined` when none runs. */
  get slurmdPid(): number | undefined {
    return this.#slurmd?.alive === true ? this.#slurmd.pid : undefined;
  }

  /** Starts munged (through the runtime) and, once the record lists this node, slurmd. */
  async start(ctx: RoleContext): Promise<void> {
    await this.#runtime.acquire();
    this.#running = true;
    // Back after a shutdown: no longer leaving (and, if the node was removed, listed again).
    const mark = this.#runtime.store.get(this.#leavingKey());
    if (mark !== undefined && mark.byteLength > 0)
      await this.#runtime.store.put(this.#leavingKey(), new Uint8Array());
    this.#since = this.#now();
    this.#detail = 'waiting for a controller record that lists this node';
    this.#unsubscribe = [
      this.#runtime.onRecord((record) => this.#maybeStartSlurmd(ctx, record)),
      this.#runtime.onMungeExit((why) => ctx.fail(new SlurmRoleError('daemon-exited', why))),
    ];
    const record = this.#runtime.record;
    if (record !== undefined) this.#maybeStartSlurmd(ctx, record);
  }

  #maybeStartSlurmd(ctx: RoleContext, record: SlurmControllerRecord): void {
    if (!this.#running || this.#slurmd?.alive === true || this.#starting !== undefined) return;
    if (!record.nodes.some((node) => node.name === this.#runtime.nodeId)) return;
    this.#detail = `starting slurmd (controller ${record.node})`;
    this.#starting = this.#startSlurmd(ctx)
      .catch((error: unknown) => {
        if (this.#running) ctx.fail(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(() => {
        this.#starting = undefined;
      });
  }

  async #startSlurmd(ctx: RoleContext): Promise<void> {
    const { layout, nodeId, confFile } = this.#runtime;
    // slurmd registers with the controller; started before it answers it waits seconds in retries.
    await this.#waitForController(ctx.signal);
    if (!this.#running) return;
    const files = slurmDaemonFiles(layout.paths, nodeId);
    await stopStrayDaemon(files.slurmdPidFile, 'slurmd');
    // Only what slurmd logs from now on counts for the credential check.
    this.#logOffset = await stat(files.slurmdLogFile).then(
      (s) => s.size,
      () => 0,
    );
    const slurmd = await startSlurmd(
      confFile,
      nodeId,
      files.slurmdLogFile,
      `${layout.paths.logDir}/slurmd-${nodeId}.out`,
      this.#startMs,
    );
    if (!this.#running) {
      await slurmd.stop();
      return;
    }
    this.#slurmd = slurmd;
    this.#detail = `slurmd pid ${slurmd.pid}`;
    void slurmd.exited.then((how) => {
      if (this.#slurmd !== slurmd) return;
      this.#slurmd = undefined;
      if (this.#running) ctx.fail(new SlurmRoleError('daemon-exited', `slurmd exited (${String(how)})`));
    });
  }

  async #waitForController(signal: AbortSignal): Promise<void> {
    const deadline = this.#now() + this.#startMs;
    while (this.#running && !signal.aborted) {
      const ping = await runSlurmCommand('scontrol', ['ping'], {
        slurmConf: this.#runtime.confFile,
        timeoutMs: 5_000,
        okCodes: [0, 1],
      }).catch(() => undefined);
      if (ping !== undefined && parseScontrolPing(ping.stdout).some((c) => c.state === 'UP')) return;
      if (this.#now() > deadline)
        throw new SlurmRoleError('no-controller', `no SLURM controller answered within ${this.#startMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  #leavingKey(): string {
    return `${SLURM_STORE_KEYS.leavingPrefix}${this.#runtime.nodeId}`;
  }

  /**
   * Stops slurmd (after draining the node when the node shuts down, so the controller sends it
   * no new jobs) and releases munged. Running jobs keep running.
   */
  async stop(_ctx: RoleContext, reason: StopReason): Promise<void> {
    const wasRunning = this.#running;
    this.#running = false;
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
    await this.#starting;
    const slurmd = this.#slurmd;
    this.#slurmd = undefined;
    if (slurmd !== undefined && (reason === 'shutdown' || reason === 'disabled')) {
      // Drained: the controller sends it no new job; its running jobs go on (slurmstepd outlives
      // slurmd) and the controller removes the node from slurm.conf once they ended.
      await runSlurmCommand(
        'scontrol',
        ['update', `nodename=${this.#runtime.nodeId}`, 'state=drain', 'reason=ClusterOS: node leaving'],
        { slurmConf: this.#runtime.confFile, timeoutMs: 5_000 },
      ).catch(() => {});
      await this.#runtime.store
        .put(this.#leavingKey(), new TextEncoder().encode(JSON.stringify({ at: this.#now() })))
        .catch(() => {});
    }
    await slurmd?.stop(15_000);
    if (wasRunning) await this.#runtime.release();
    this.#since = this.#now();
    this.#detail = `stopped (${reason})`;
  }

  /** A cheap snapshot. */
  status(): RoleStatus {
    return {
      running: this.#running,
      healthy: this.#running && this.#runtime.status().mungeRunning,
      leader: false,
      since: this.#since,
      detail: this.#detail,
    };
  }

  /** munged runs, and slurmd runs once the record lists this node. */
  async health(): Promise<HealthReport> {
    if (!this.#runtime.status().mungeRunning) return { healthy: false, detail: 'munged is not running' };
    const listed = this.#runtime.record?.nodes.some((n) => n.name === this.#runtime.nodeId) === true;
    if (listed && this.#starting === undefined && this.#slurmd?.alive !== true)
      return { healthy: false, detail: 'slurmd is not running' };
    const rejected = await this.#credentialsRejected();
    if (rejected !== undefined) {
      this.#detail = `munge credentials rejected (${rejected}): this node's munge key differs from the controller's`;
      await this.#runtime
        .refreshMunge("the controller rejected this node's munge credentials")
        .catch(() => {});
      return { healthy: false, detail: this.#detail };
    }
    return { healthy: true, detail: this.#detail };
  }

  /**
   * The line of slurmd's log, written since the last check, that says the controller and this
   * node disagree on the munge key (SLURM-NOTES §5: the node then never becomes idle), if any.
   */
  async #credentialsRejected(): Promise<string | undefined> {
    const { layout, nodeId } = this.#runtime;
    const log = slurmDaemonFiles(layout.paths, nodeId).slurmdLogFile;
    const handle = await open(log, 'r').catch(() => undefined);
    if (handle === undefined) return undefined;
    try {
      const size = (await handle.stat()).size;
      const from = size < this.#logOffset ? 0 : Math.max(this.#logOffset, size - 64 * 1024);
      const buffer = Buffer.alloc(size - from);
      await handle.read(buffer, 0, buffer.length, from);
      this.#logOffset = size;
      return buffer
        .toString('utf8')
        .split('\n')
        .find((line) => /authentication error|Invalid authentication credential/i.test(line))
        ?.trim()
        .slice(0, 200);
    } finally {
      await handle.close();
    }
  }

  /** Not a singleton: never handed off. */
  async prepareHandoff(): Promise<HandoffState> {
    throw new SlurmRoleError('not-leader', 'slurm-worker runs on every node and is never handed off');
  }

  /** Not a singleton. */
  async completeHandoff(): Promise<void> {}

  /** Not a singleton. */
  async abortHandoff(): Promise<void> {}
}
