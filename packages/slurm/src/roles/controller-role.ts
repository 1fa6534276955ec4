/**
 * `slurm-controller`: slurmctld on the one node that holds the role, and the controller handoff
 * that keeps every running job.
 *
 * Start (lease held, fencing token T): make sure the cluster has a munge key (create-only), pick
 * the state to start from (a handed-over state, a shipped copy written by another holder, or this
 * node's own), follow the new controller record (holder, its address, the static node list)
 * locally, start slurmctld and wait for `scontrol ping`, then publish the record under T, wait —
 * bounded — until the nodes follow it (alias re-pointed, slurm.conf written), and `scontrol
 * reconfigure` so running slurmds re-read their configuration. While it runs: the state is shipped to the store every few seconds (the
 * next holder's copy after a crash), and membership changes become new node lists, applied by a
 * controlled slurmctld restart (a plain reconfigure with a changed node list kills slurmctld in
 * SLURM 22.05).
 *
 * Handoff: prepare (old holder) stops slurmctld with SIGTERM, which saves the state, packs it and
 * writes it to the store, and forwards its address to the new holder (holding clients until the
 * lease has moved there); accept (new holder) unpacks it; start on the new holder starts
 * slurmctld and then re-points the alias on every node. Abort restarts slurmctld on the old
 * holder's own state.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import type {
  HandoffState,
  HealthReport,
  NodeRef,
  Role,
  RoleContext,
  RoleStatus,
  StopReason,
} from '@clusteros/roles';
import { DEFAULT_SLURM_PORTS } from '../conf/model.js';
import { nodeListChanged, slurmDaemonFiles } from '../conf/render.js';
import { runSlurmCommand } from '../daemons/command.js';
import type { SlurmDaemon } from '../daemons/daemon.js';
import { startSlurmctld } from '../daemons/start.js';
import { stopStrayDaemon } from '../daemons/stray.js';
import { MungeKey } from '../munge/key.js';
import { packState, recoverStateDir, unpackState } from '../state/pack.js';
import { SlurmRoleError } from './errors.js';
import { ControllerForwarder } from './forwarder.js';
import { SlurmNodeList } from './node-list.js';
import { modelForRecord, type SlurmNodeRuntime } from './node-runtime.js';
import { decodeShippedState, encodeShippedState, type ShippedState } from './shipped-state.js';
import {
  decodeControllerRecord,
  encodeControllerRecord,
  recordVersion,
  SLURM_STORE_KEYS,
  type SlurmControllerRecord,
} from './store.js';

/** The role's name. */
export const SLURM_CONTROLLER_ROLE = 'slurm-controller';

/** Largest state archive shipped through the store (the Raft KV takes values up to 1.5 MiB). */
export const MAX_SHIPPED_STATE_BYTES = 1_400_000;

/** Options of {@link SlurmControllerRole}. */
export interface SlurmControllerRoleOptions {
  /** The node's SLURM runtime (shared with the worker role). */
  readonly runtime: SlurmNodeRuntime;
  /**
   * The cluster address of a member (its Tailscale IPv4 in production): where slurmd of the
   * member is reached and where the controller alias points while it holds the role.
   * @defaultValue the member's `ts_ip` tag, else the host part of its `address`
   */
  readonly addressOf?: (node: NodeRef) => string | undefined;
  /** This machine's short host name (`SlurmctldHost`). @defaultValue `os.hostname()` up to the first dot */
  readonly hostName?: () => string;
  /** How often the state is shipped to the store while slurmctld runs. @defaultValue 2000 */
  readonly shipEveryMs?: number;
  /** How often membership is compared with the node list. @defaultValue 1000 */
  readonly reconcileEveryMs?: number;
  /** How long a node may be missing from membership before it leaves the node list. @defaultValue 30000 */
  readonly nodeRemovalGraceMs?: number;
  /** How long a new record waits for the nodes' acknowledgements. @defaultValue 3000 */
  readonly ackWaitMs?: number;
  /** Wall clock in ms. @defaultValue Date.now */
  readonly now?: () => number;
}

/** The handoff state: the checksum of the state archive written to the store. */
interface HandoffData {
  readonly sha256: string;
}

function defaultAddressOf(node: NodeRef): string | undefined {
  const tagged = node.tags?.ts_ip;
  if (tagged !== undefined && tagged !== '') return tagged;
  if (node.address === undefined) return undefined;
  const host = node.address.startsWith('[')
    ? node.address.slice(1, node.address.indexOf(']'))
    : node.address.split(':')[0];
  return host === '' ? undefined : host;
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** slurmctld on the role's holder (see the module comment). */
export class SlurmControllerRole implements Role {
  /** `slurm-controller`. */
  readonly name = SLURM_CONTROLLER_ROLE;
  /** One holder at a time. */
  readonly placement = 'singleton' as const;
  readonly #runtime: SlurmNodeRuntime;
  readonly #addressOf: (node: NodeRef) => string | undefined;
  readonly #hostName: () => string;
  readonly #shipEveryMs: number;
  readonly #reconcileEveryMs: number;
  readonly #ackWaitMs: number;
  readonly #now: () => number;
  #ctld: SlurmDaemon | undefined;
  #acquired = false;
  #running = false;
  #serving = false;
  #since: number | null = null;
  #detail = 'stopped';
  #record: SlurmControllerRecord | undefined;
  #accepted: string | undefined;
  #timers: NodeJS.Timeout[] = [];
  #busy: Promise<void> = Promise.resolve();
  #lastShipped = '';
  readonly #nodeList: SlurmNodeList;
  #lastError: string | undefined;
  #forwarder: ControllerForwarder | undefined;

  /** Creates the role. */
  constructor(options: SlurmControllerRoleOptions) {
    this.#runtime = options.runtime;
    this.#addressOf = options.addressOf ?? defaultAddressOf;
    this.#hostName = options.hostName ?? (() => hostname().split('.')[0] ?? hostname());
    this.#shipEveryMs = options.shipEveryMs ?? 2_000;
    this.#reconcileEveryMs = options.reconcileEveryMs ?? 1_000;
    this.#ackWaitMs = options.ackWaitMs ?? 3_000;
    this.#now = options.now ?? Date.now;
    this.#nodeList = new SlurmNodeList({
      runtime: this.#runtime,
      addressOf: this.#addressOf,
      graceMs: options.nodeRemovalGraceMs ?? 30_000,
      now: this.#now,
    });
  }

  /** The PID of the slurmctld this role runs, or `undefined` when none runs. */
  get slurmctldPid(): number | undefined {
    return this.#ctld?.alive === true ? this.#ctld.pid : undefined;
  }

  /** The record this holder published last. */
  get record(): SlurmControllerRecord | undefined {
    return this.#record;
  }

  /** Starts slurmctld as the holder (see the module comment). */
  async start(ctx: RoleContext): Promise<void> {
    const token = ctx.fencingToken;
    if (token === undefined)
      throw new SlurmRoleError('not-leader', 'slurm-controller started without a fencing token');
    this.#running = true;
    this.#since = this.#now();
    try {
      await this.#ensureMungeKey(ctx);
      if (!this.#acquired) {
        await this.#runtime.acquire();
        this.#acquired = true;
      }
      const from = await this.#prepareState(ctx);
      const address = this.#addressOf(ctx.node);
      if (address === undefined)
        throw new SlurmRoleError(
          'config',
          `this node (${ctx.node.id}) has no cluster address for the controller alias`,
        );
      const record: SlurmControllerRecord = {
        token,
        seq: 0,
        node: ctx.node.id,
        host: this.#hostName(),
        address,
        // The previous holder's nodes get the same grace as any missing node: a crashed holder's
        // node may still be listed in the state with jobs on it.
        nodes: await this.#nodeList.next(ctx, this.#storedRecord(), this.#serving),
      };
      // This node follows the new record first (its slurm.conf names this host, its alias points
      // here) and slurmctld starts; only then is the record published, so that every other node
      // re-points the alias at a controller that already answers. Until then their clients still
      // reach the old address, where the old holder's forwarder hands them to this controller.
      this.#detail = `starting slurmctld for controller record ${recordVersion(record)}`;
      this.#record = record;
      await this.#runtime.apply(record);
      await this.#closeForwarder();
      await this.#startSlurmctld(ctx);
      await this.#publish(ctx, record);
      await this.#reconfigure(ctx);
      this.#serving = true;
      this.#detail = `slurmctld pid ${this.#ctld?.pid} (${from})`;
      ctx.logger.info({ role: this.name, token, from, nodes: record.nodes.length }, 'slurmctld serving');
      this.#startLoops(ctx);
    } catch (error) {
      await this.#halt();
      throw error;
    }
  }

  async #ensureMungeKey(ctx: RoleContext): Promise<void> {
    const store = this.#runtime.store;
    if (store.get(SLURM_STORE_KEYS.mungeKey) !== undefined) return;
    if (await store.create(SLURM_STORE_KEYS.mungeKey, MungeKey.generate().bytes()))
      ctx.logger.info({ role: this.name }, 'created the cluster munge key');
    // The write is committed; this member applies it a moment later.
    for (let i = 0; i < 100 && store.get(SLURM_STORE_KEYS.mungeKey) === undefined; i++) await delay(20);
  }

  /** Picks and installs the state slurmctld starts from; returns where it came from. */
  async #prepareState(ctx: RoleContext): Promise<string> {
    const dir = this.#runtime.layout.paths.stateSaveLocation;
    if (await recoverStateDir(dir))
      ctx.logger.warn({ role: this.name }, 'restored the state an interrupted unpack had moved aside');
    if (this.#accepted !== undefined) {
      const sha = this.#accepted;
      this.#accepted = undefined;
      return `handed-over state ${sha.slice(0, 12)}`;
    }
    const local = await readdir(dir).then(
      (names) => names.length > 0,
      () => false,
    );
    const shipped = this.#readShipped(ctx);
    if (shipped !== undefined && (shipped.header.node !== ctx.node.id || !local)) {
      await unpackState(shipped.archive, dir);
      const age = Math.max(0, this.#now() - shipped.header.at);
      ctx.logger.warn(
        { role: this.name, from: shipped.header.node, ageMs: age },
        'starting slurmctld from the state copy shipped by the previous holder',
      );
      return `shipped copy from ${shipped.header.node}, ${age} ms old`;
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return local ? 'own saved state' : 'empty state';
  }

  #readShipped(ctx: RoleContext): ShippedState | undefined {
    const bytes = this.#runtime.store.get(SLURM_STORE_KEYS.state);
    if (bytes === undefined) return undefined;
    try {
      return decodeShippedState(bytes);
    } catch (error) {
      ctx.logger.warn({ role: this.name, error: (error as Error).message }, 'ignoring the shipped state');
      return undefined;
    }
  }

  /** The record in the store (the previous holder's), if valid. */
  #storedRecord(): SlurmControllerRecord | undefined {
    const bytes = this.#runtime.store.get(SLURM_STORE_KEYS.controller);
    if (bytes === undefined) return undefined;
    try {
      return decodeControllerRecord(bytes);
    } catch {
      return undefined;
    }
  }

  /** Writes `record` to the store, applies it here, and waits (bounded) for the other nodes to follow it. */
  async #publish(ctx: RoleContext, record: SlurmControllerRecord): Promise<void> {
    // During start the manager has not marked the run as running yet (isLeader() is false until
    // start resolves); the fencing token and the run's signal are what hold then.
    if (ctx.signal.aborted || (this.#serving && !ctx.isLeader()))
      throw new SlurmRoleError('not-leader', 'lost the slurm-controller lease before publishing');
    await this.#runtime.store.put(SLURM_STORE_KEYS.controller, encodeControllerRecord(record));
    this.#record = record;
    await this.#runtime.apply(record);
    const version = recordVersion(record);
    const alive = new Set(ctx.cluster.members().map((m) => m.id));
    const waiting = record.nodes.map((n) => n.name).filter((name) => alive.has(name));
    const acked = (name: string): boolean => {
      const ack = this.#runtime.store.get(`${SLURM_STORE_KEYS.ackPrefix}${name}`);
      return ack !== undefined && new TextDecoder().decode(ack) === version;
    };
    const deadline = this.#now() + this.#ackWaitMs;
    let pending = waiting.filter((name) => !acked(name));
    while (pending.length > 0 && this.#now() < deadline && !ctx.signal.aborted) {
      await delay(10);
      pending = pending.filter((name) => !acked(name));
    }
    if (pending.length > 0)
      ctx.logger.warn(
        { role: this.name, record: version, pending },
        'nodes did not confirm the controller record in time; they follow it when they can',
      );
  }

  async #startSlurmctld(ctx: RoleContext): Promise<SlurmDaemon> {
    const { layout, nodeId, confFile } = this.#runtime;
    const files = slurmDaemonFiles(layout.paths, nodeId);
    await stopStrayDaemon(files.slurmctldPidFile, 'slurmctld', 20_000);
    const ctld = await startSlurmctld(
      confFile,
      files.slurmctldLogFile,
      `${layout.paths.logDir}/slurmctld.out`,
    );
    this.#ctld = ctld;
    void ctld.exited.then((how) => {
      if (this.#ctld !== ctld) return;
      this.#ctld = undefined;
      this.#serving = false;
      if (this.#running) ctx.fail(new SlurmRoleError('daemon-exited', `slurmctld exited (${String(how)})`));
    });
    return ctld;
  }

  /** Makes running slurmds re-read slurm.conf (safe: the node list is the one slurmctld started with). */
  async #reconfigure(ctx: RoleContext): Promise<void> {
    await runSlurmCommand('scontrol', ['reconfigure'], {
      slurmConf: this.#runtime.confFile,
      timeoutMs: 10_000,
    }).catch((error: unknown) =>
      ctx.logger.warn({ role: this.name, error: (error as Error).message }, 'scontrol reconfigure failed'),
    );
  }

  #startLoops(ctx: RoleContext): void {
    const every = (ms: number, work: () => Promise<void>): void => {
      const tick = (): void => {
        this.#busy = this.#busy
          .then(work)
          .catch((error: unknown) => {
            this.#lastError = (error as Error).message;
            ctx.logger.warn(
              { role: this.name, error: this.#lastError },
              'slurm-controller background work failed',
            );
          })
          .finally(() => {
            if (this.#serving) this.#timers.push(setTimeout(tick, ms));
          });
      };
      this.#timers.push(setTimeout(tick, ms));
    };
    every(this.#shipEveryMs, async () => {
      await this.#ship(ctx, 'periodic');
    });
    every(this.#reconcileEveryMs, () => this.#reconcile(ctx));
  }

  #stopLoops(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];
  }

  /** Ships the state to the store when it changed since the last copy. */
  async #ship(ctx: RoleContext, reason: 'periodic' | 'handoff'): Promise<string> {
    const token = ctx.fencingToken ?? 0;
    if (reason === 'periodic' && (!this.#serving || !ctx.isLeader())) return this.#lastShipped;
    const archive = await packState(this.#runtime.layout.paths.stateSaveLocation, {
      maxBytes: MAX_SHIPPED_STATE_BYTES,
    });
    const value = encodeShippedState({ node: ctx.node.id, token, at: this.#now(), reason }, archive);
    const sha = decodeShippedState(value).header.sha256;
    if (reason === 'periodic' && sha === this.#lastShipped) return sha;
    await this.#runtime.store.put(SLURM_STORE_KEYS.state, value);
    this.#lastShipped = sha;
    return sha;
  }

  /** Applies a changed node list: new record, then a controlled slurmctld restart and a reconfigure. */
  async #reconcile(ctx: RoleContext): Promise<void> {
    const current = this.#record;
    if (current === undefined || !this.#serving || !ctx.isLeader()) return;
    const nodes = await this.#nodeList.next(ctx, current, this.#serving);
    if (nodes.length === 0) return;
    const layout = this.#runtime.layout;
    const next = { ...current, seq: current.seq + 1, nodes };
    if (!nodeListChanged(modelForRecord(layout, current), modelForRecord(layout, next))) return;
    ctx.logger.info(
      { role: this.name, before: current.nodes.map((n) => n.name), after: nodes.map((n) => n.name) },
      'the SLURM node list changed; restarting slurmctld with it',
    );
    await this.#publish(ctx, next);
    const ctld = this.#ctld;
    this.#ctld = undefined;
    await ctld?.stop(20_000);
    const restarted = await this.#startSlurmctld(ctx);
    await this.#reconfigure(ctx);
    this.#detail = `slurmctld pid ${restarted.pid} (${nodes.length} nodes)`;
  }

  /** Stops the loops and slurmctld (SIGTERM: it saves its state). */
  async #halt(): Promise<void> {
    await this.#quiesce();
    await this.#stopSlurmctld();
  }

  /** Stops the background loops and waits for the work in flight (a ship, a controlled restart). */
  async #quiesce(): Promise<void> {
    this.#serving = false;
    this.#stopLoops();
    await this.#busy;
  }

  /** Sends slurmctld SIGTERM at once; resolves when it has exited. */
  #stopSlurmctld(): Promise<unknown> {
    const ctld = this.#ctld;
    this.#ctld = undefined;
    return ctld?.stop(20_000) ?? Promise.resolve();
  }

  /** Stops slurmctld; running jobs keep running on their nodes. */
  async stop(_ctx: RoleContext, reason: StopReason): Promise<void> {
    this.#running = false;
    await this.#halt();
    // After a handoff the forwarder keeps serving clients that still use this node's address; it
    // closes itself after its lifetime.
    if (reason !== 'handed-off') await this.#closeForwarder();
    this.#accepted = undefined;
    if (this.#acquired) {
      this.#acquired = false;
      await this.#runtime.release();
    }
    this.#since = this.#now();
    this.#detail = `stopped (${reason})`;
  }

  /** A cheap snapshot. */
  status(): RoleStatus {
    return {
      running: this.#running,
      healthy: this.#serving || this.#accepted !== undefined,
      leader: this.#serving,
      since: this.#since,
      detail:
        this.#lastError === undefined ? this.#detail : `${this.#detail}; last error: ${this.#lastError}`,
    };
  }

  /** Serving: slurmctld answers `scontrol ping`. Warmed by a handoff: the state is in place. */
  async health(): Promise<HealthReport> {
    if (!this.#serving) {
      if (this.#accepted !== undefined) return { healthy: true, detail: 'state received; ready to start' };
      return { healthy: false, detail: this.#detail };
    }
    const ping = await runSlurmCommand('scontrol', ['ping'], {
      slurmConf: this.#runtime.confFile,
      timeoutMs: 5_000,
      okCodes: [0, 1],
    }).catch((error: unknown) => ({ code: -1, stdout: '', stderr: (error as Error).message }));
    return ping.code === 0
      ? { healthy: true, detail: this.#detail }
      : { healthy: false, detail: `scontrol ping: ${ping.stdout.trim() || ping.stderr.trim()}` };
  }

  /**
   * Starts forwarding this node's controller address to `to` (best effort: clients retry anyway).
   * Connections are held without dialling until the lease has moved to `to` (or, should this
   * node's view of the lease lag, until `to` has published its controller record), each under a
   * newer fencing token. The role manager moves the lease only after `to` ran `acceptHandoff`,
   * which closes any forwarder of its own; after a recent handoff the other way that forwarder
   * still points here, and dialling it earlier sent clients round in a loop. From then on the
   * forwarder dials `to` every 50 ms until its slurmctld listens.
   */
  async #forwardTo(ctx: RoleContext, to: NodeRef, slurmctldStopped: Promise<unknown>): Promise<void> {
    const here = this.#addressOf(ctx.node);
    const there = this.#addressOf(to);
    if (here === undefined || there === undefined || here === there) return;
    const port = this.#runtime.layout.ports?.slurmctld ?? DEFAULT_SLURM_PORTS.slurmctld;
    const ownToken = ctx.fencingToken ?? 0;
    const ready = (): boolean => {
      const lease = ctx.leader();
      if (lease !== undefined && lease.nodeId === to.id && lease.fencingToken > ownToken) return true;
      const record = this.#storedRecord();
      return record !== undefined && record.node === to.id && record.token > ownToken;
    };
    await this.#closeForwarder();
    try {
      this.#forwarder = await ControllerForwarder.listen({
        host: here,
        port,
        target: { host: there, port },
        ready,
        portBusyUntil: slurmctldStopped,
      });
    } catch (error) {
      ctx.logger.warn(
        { role: this.name, error: (error as Error).message },
        'cannot forward the old controller address',
      );
    }
  }

  async #closeForwarder(): Promise<void> {
    const forwarder = this.#forwarder;
    this.#forwarder = undefined;
    await forwarder?.close();
  }

  /**
   * Old holder: stop slurmctld (it saves its state on SIGTERM), pack the state, and write it to
   * the store; the handoff carries only its checksum.
   */
  async prepareHandoff(ctx: RoleContext, to: NodeRef): Promise<HandoffState> {
    this.#detail = `handing off to ${to.id}`;
    await this.#quiesce();
    // The forwarder takes the port as soon as slurmctld has closed its listener (right after
    // SIGTERM), not only once it has saved its state and exited.
    const stopped = this.#stopSlurmctld();
    await Promise.all([stopped, this.#forwardTo(ctx, to, stopped)]);
    const sha = await this.#ship(ctx, 'handoff');
    const data: HandoffData = { sha256: sha };
    return { data: new TextEncoder().encode(JSON.stringify(data)) };
  }

  /** New holder: unpack the state the old holder wrote (waiting, bounded, until it is applied here). */
  async acceptHandoff(ctx: RoleContext, state: HandoffState): Promise<void> {
    let wanted: string;
    try {
      wanted = (JSON.parse(new TextDecoder().decode(state.data)) as HandoffData).sha256;
    } catch {
      throw new SlurmRoleError('state', 'the handoff state is not a slurm-controller handoff');
    }
    if (typeof wanted !== 'string') throw new SlurmRoleError('state', 'the handoff state has no checksum');
    // A forwarder this node still runs from an earlier handoff listens on the address the old
    // holder's forwarder is about to forward to: it would catch those clients and send them to a
    // node that no longer serves. It goes now; the port is slurmctld's from here on.
    await this.#closeForwarder();
    if (!this.#acquired) {
      await this.#runtime.acquire();
      this.#acquired = true;
    }
    this.#running = true;
    const deadline = this.#now() + 5_000;
    let shipped = this.#readShipped(ctx);
    while (shipped?.header.sha256 !== wanted) {
      if (this.#now() > deadline || ctx.signal.aborted)
        throw new SlurmRoleError(
          'state',
          `the handed-over state ${wanted.slice(0, 12)} did not arrive in the store`,
        );
      await delay(10);
      shipped = this.#readShipped(ctx);
    }
    const dir = this.#runtime.layout.paths.stateSaveLocation;
    await recoverStateDir(dir);
    await unpackState(shipped.archive, dir);
    this.#accepted = wanted;
    this.#detail = `received state ${wanted.slice(0, 12)} from the old holder`;
  }

  /** Old holder: the new holder serves; nothing of slurmctld runs here any more. */
  async completeHandoff(ctx: RoleContext): Promise<void> {
    this.#detail = `handed off (now at ${ctx.leader()?.nodeId ?? 'the new holder'})`;
  }

  /** Old holder: the handoff failed before the new holder served; restart slurmctld on this node's own state. */
  async abortHandoff(ctx: RoleContext): Promise<void> {
    if (this.#serving) return;
    await this.#closeForwarder();
    await this.#startSlurmctld(ctx);
    await this.#reconfigure(ctx);
    this.#serving = true;
    this.#detail = `slurmctld pid ${this.#ctld?.pid} (handoff aborted, own state)`;
    this.#startLoops(ctx);
  }
}
