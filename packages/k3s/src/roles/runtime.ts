/**
 * The part of k3s that belongs to a node rather than to a role: one `k3s` process, as server or
 * agent, following the cluster record in the store. Both k3s roles on a node share one runtime.
 *
 * - The record decides the mode ({@link desiredProcess}); the runtime starts, stops and
 *   switches the process to match, with the token in a 0600 file and the arguments built from
 *   the node (`buildK3sArgs`).
 * - An unexpected exit is restarted with capped exponential backoff.
 * - A server whose etcd member was removed (k3s logs it and exits, and would refuse to come back
 *   on its old data) has `server/db` wiped and joins again as a new member; a node removed again
 *   and again stops trying (`error`) instead of looping.
 * - A server the record no longer lists leaves etcd first (moving etcd leadership away if it
 *   holds it), then stops, then wipes `server/db`, so a stale member never blocks the cluster.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EtcdGateway, isMemberOf, k3sEtcdGatewayOptions } from '../etcd/index.js';
import { KubeApi, realSleep } from '../kube/index.js';
import {
  buildK3sArgs,
  etcdInitialized,
  isK3sConfigError,
  isK3sProcessError,
  type K3sExitInfo,
  type K3sNetwork,
  K3sProcess,
  K3sToken,
  wipeServerDb,
  writeEmptyConfigFile,
  writeTokenFile,
} from '../process/index.js';
import { type DesiredProcess, desiredProcess } from './desired.js';
import { type K3sLogger, silentK3sLogger } from './logger.js';
import { K3S_STORE_KEYS, type K3sClusterRecord, type K3sStore, readClusterRecord } from './store.js';
import { stopStrayK3s, writePidFile } from './stray.js';

/** Extra k3s arguments per mode. */
export interface K3sExtraArgs {
  /** Appended to `k3s server`. */
  readonly server?: readonly string[];
  /** Appended to `k3s agent`. */
  readonly agent?: readonly string[];
}

/** How an unexpected exit of k3s is retried. */
export interface K3sRestartPolicy {
  /** First delay. @defaultValue 1000 */
  readonly baseMs?: number;
  /** Largest delay (it doubles per failure up to this). @defaultValue 30000 */
  readonly maxMs?: number;
  /** A run this long resets the failure count. @defaultValue 60000 */
  readonly stableAfterMs?: number;
}

/** Options of {@link K3sNodeRuntime}. */
export interface K3sNodeRuntimeOptions {
  /** This node's id: its Kubernetes node name and the prefix of its etcd member name. */
  readonly nodeId: string;
  /** The node's cluster address (its Tailscale IPv4): `--node-ip`, `--advertise-address`. */
  readonly nodeIp: string;
  /** Extra names on the API server certificate (the node's MagicDNS name). */
  readonly tlsSans?: readonly string[];
  /** k3s's `--data-dir`. @defaultValue `/var/lib/rancher/k3s` */
  readonly dataDir?: string;
  /** The k3s binary (a path, or a name looked up on PATH). @defaultValue `k3s` */
  readonly binary?: string;
  /** Pod networking. @defaultValue flannel on `tailscale0` */
  readonly network?: K3sNetwork;
  /** Extra arguments for `k3s server` / `k3s agent` (checked: none may touch what the runtime owns). */
  readonly extraArgs?: K3sExtraArgs;
  /** Environment of the k3s process. @defaultValue `process.env` */
  readonly env?: NodeJS.ProcessEnv;
  /** The cluster store. */
  readonly store: K3sStore;
  /** How often the record is checked. @defaultValue 200 */
  readonly followEveryMs?: number;
  /** Restart backoff after an unexpected exit. */
  readonly restart?: K3sRestartPolicy;
  /** Removals of this node's etcd member within 10 minutes after which it stops rejoining. @defaultValue 3 */
  readonly maxRemovals?: number;
  /** API server port of every server. @defaultValue 6443 */
  readonly apiPort?: number;
  /** SIGTERM → SIGKILL bound when stopping k3s. @defaultValue 30000 */
  readonly stopTimeoutMs?: number;
  /** How the node's etcd is reached. @defaultValue the k3s JSON gateway with k3s's client certificates */
  readonly etcdGateway?: () => Promise<EtcdGateway>;
  /** How the Kubernetes API is reached. @defaultValue the kubeconfig this server writes */
  readonly kubeApi?: () => Promise<KubeApi>;
  /** Logger. */
  readonly logger?: K3sLogger;
}

/** The runtime's state as a word. */
export type K3sRuntimeState = 'stopped' | 'waiting' | 'starting' | 'running' | 'backoff' | 'error';

/** What the runtime is doing, for status lines and the dashboard. */
export interface K3sRuntimeStatus {
  /** The state. */
  readonly state: K3sRuntimeState;
  /** The mode of the process that runs (or last ran). */
  readonly mode: 'server' | 'agent' | undefined;
  /** Its PID while it runs. */
  readonly pid: number | undefined;
  /** What the record asks for, and why. */
  readonly desired: DesiredProcess | undefined;
  /** The record this node follows. */
  readonly record: K3sClusterRecord | undefined;
  /** Unexpected exits so far. */
  readonly restarts: number;
  /** Times this node's etcd member was found removed (and `server/db` wiped). */
  readonly removals: number;
  /** Records read from the store that were invalid and ignored. */
  readonly invalidRecords: number;
  /** The last problem, if any (never contains the token). */
  readonly lastError: string | undefined;
}

const REMOVAL_WINDOW_MS = 10 * 60_000;

/** One node's k3s process (see the module comment). */
export class K3sNodeRuntime {
  /** This node's id. */
  readonly nodeId: string;
  /** Its cluster address. */
  readonly nodeIp: string;
  /** k3s's data dir. */
  readonly dataDir: string;
  /** The store. */
  readonly store: K3sStore;
  /** Where the server writes its admin kubeconfig (mode 0600). */
  readonly kubeconfigPath: string;
  readonly #o: K3sNodeRuntimeOptions;
  readonly #logger: K3sLogger;
  /** The k3s binary this runtime starts. */
  readonly binary: string;
  readonly #own: string;
  #agentUsers = 0;
  #serverUsers = 0;
  #serverOverride = false;
  #held: 'no' | 'stopped' | 'no-restart' = 'no';
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #process: K3sProcess | undefined;
  #mode: 'server' | 'agent' | undefined;
  #startedAt = 0;
  #failures = 0;
  #retryAt = 0;
  #restarts = 0;
  #removalTimes: number[] = [];
  #wipeBeforeStart = false;
  #gaveUp = false;
  #record: K3sClusterRecord | undefined;
  #desired: DesiredProcess | undefined;
  #invalid = 0;
  #lastError: string | undefined;
  #state: K3sRuntimeState = 'stopped';
  #recordSeen: string | undefined;
  #lastExit: K3sExitInfo | undefined;
  #leftEtcd = false;
  #leaveRetryAt = 0;

  /** Validates nothing yet: the arguments are built (and checked) at each start. */
  constructor(options: K3sNodeRuntimeOptions) {
    this.#o = options;
    this.nodeId = options.nodeId;
    this.nodeIp = options.nodeIp;
    this.dataDir = options.dataDir ?? '/var/lib/rancher/k3s';
    this.store = options.store;
    this.#logger = options.logger ?? silentK3sLogger;
    this.binary = options.binary ?? 'k3s';
    this.#own = join(this.dataDir, 'clusteros');
    this.kubeconfigPath = join(this.#own, 'kubeconfig.yaml');
  }

  /** The k3s process's PID while it runs. */
  get pid(): number | undefined {
    return this.#process?.running() ? this.#process.pid : undefined;
  }

  /** How the last k3s process ended, if one has. */
  lastExit(): K3sExitInfo | undefined {
    return this.#lastExit;
  }

  /** A snapshot for status lines. */
  status(): K3sRuntimeStatus {
    return {
      state: this.#state,
      mode: this.#mode,
      pid: this.pid,
      desired: this.#desired,
      record: this.#record,
      restarts: this.#restarts,
      removals: this.#removalTimes.length,
      invalidRecords: this.#invalid,
      lastError: this.#lastError,
    };
  }

  /** Starts following the record for `use` (the agent role, or a server role). Counted. */
  acquire(use: 'agent' | 'server'): void {
    if (use === 'agent') this.#agentUsers += 1;
    else this.#serverUsers += 1;
    this.#gaveUp = false;
    this.#schedule(0);
  }

  /** Ends one {@link acquire}; the process stops when nobody uses the runtime any more. */
  async release(use: 'agent' | 'server'): Promise<void> {
    if (use === 'agent') this.#agentUsers = Math.max(0, this.#agentUsers - 1);
    else this.#serverUsers = Math.max(0, this.#serverUsers - 1);
    if (this.#agentUsers + this.#serverUsers > 0) {
      this.#schedule(0);
      return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
    await this.#stopProcess();
    this.#state = 'stopped';
  }

  /**
   * Runs `k3s server` although the record does not list this node (a handoff target joining
   * before the holder adds it), or stops doing so.
   */
  setServerOverride(value: boolean): void {
    this.#serverOverride = value;
    this.#schedule(0);
  }

  /**
   * Holds the process: `'stopped'` stops it now and keeps it stopped; `'no-restart'` leaves it
   * running but does not restart it once it exits (a retiring server whose etcd member is about
   * to be removed: k3s exits by itself then and must not rejoin); `'no'` releases the hold.
   */
  async hold(value: 'no' | 'stopped' | 'no-restart'): Promise<void> {
    this.#held = value;
    if (value === 'stopped') {
      await this.#ticking;
      await this.#stopProcess();
    } else if (value === 'no') this.#schedule(0);
  }

  /** Resolves once the k3s process is not running (bounded by `signal`). */
  async waitStopped(signal: AbortSignal): Promise<void> {
    while (this.#process?.running()) {
      signal.throwIfAborted();
      await realSleep(50, signal);
    }
  }

  /** Wipes `server/db` before this node next starts as a server. */
  markRemoved(): void {
    this.#wipeBeforeStart = true;
  }

  /** The node's etcd through the JSON gateway. */
  async etcd(): Promise<EtcdGateway> {
    if (this.#o.etcdGateway !== undefined) return this.#o.etcdGateway();
    return new EtcdGateway(await k3sEtcdGatewayOptions(this.dataDir));
  }

  /** The Kubernetes API through this server's kubeconfig. */
  async kube(): Promise<KubeApi> {
    if (this.#o.kubeApi !== undefined) return this.#o.kubeApi();
    return KubeApi.fromKubeconfigFile(this.kubeconfigPath);
  }

  /**
   * Whether k3s runs in `mode` and serves: a server's API answers `/readyz` (through its
   * kubeconfig); an agent's process has stayed up for a moment.
   */
  async serving(mode: 'server' | 'agent', signal?: AbortSignal): Promise<boolean> {
    if (this.#mode !== mode || this.pid === undefined) return false;
    if (mode === 'agent') return Date.now() - this.#startedAt >= 1_000;
    try {
      return await (await this.kube()).readyz(signal);
    } catch {
      return false;
    }
  }

  /** Polls {@link serving} every 200 ms until true; rejects when `signal` aborts. */
  async waitServing(mode: 'server' | 'agent', signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      if (await this.serving(mode, signal)) return;
      if (this.#state === 'error')
        throw new Error(`k3s ${mode} failed: ${this.#lastError ?? 'unknown error'}`);
      await realSleep(200, signal);
    }
  }

  #schedule(ms: number): void {
    if (this.#agentUsers + this.#serverUsers === 0) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#ticking !== undefined) {
        this.#schedule(this.#o.followEveryMs ?? 200);
        return;
      }
      this.#ticking = this.#tick()
        .catch((error: unknown) => {
          this.#lastError = (error as Error).message;
          this.#logger.warn({ err: this.#lastError }, 'k3s runtime step failed');
        })
        .finally(() => {
          this.#ticking = undefined;
          this.#schedule(this.#o.followEveryMs ?? 200);
        });
    }, ms);
    this.#timer.unref?.();
  }

  #readRecord(): K3sClusterRecord | undefined {
    try {
      const record = readClusterRecord(this.store);
      this.#record = record;
      return record;
    } catch (error) {
      const raw = this.store.get(K3S_STORE_KEYS.cluster);
      const key = raw === undefined ? '' : Buffer.from(raw).toString('base64').slice(0, 64);
      if (key !== this.#recordSeen) {
        this.#recordSeen = key;
        this.#invalid += 1;
        this.#logger.warn({ err: (error as Error).message }, 'ignoring an invalid k3s cluster record');
      }
      return this.#record;
    }
  }

  async #tick(): Promise<void> {
    if (this.#agentUsers + this.#serverUsers === 0) return;
    const record = this.#readRecord();
    const desired = desiredProcess({
      self: this.nodeId,
      record,
      agent: this.#agentUsers > 0,
      serverOverride: this.#serverOverride,
      etcdInitialized: !this.#wipeBeforeStart && (await etcdInitialized(this.dataDir)),
      ...(this.#o.apiPort === undefined ? {} : { apiPort: this.#o.apiPort }),
    });
    this.#desired = desired;
    if (this.#held === 'no-restart') {
      if (!this.#process?.running()) this.#state = 'stopped';
      return;
    }
    const want = this.#held === 'stopped' ? 'none' : desired.mode;
    if (this.#process?.running() && this.#mode !== want) {
      const leaving = this.#mode === 'server' && this.#held === 'no';
      // A server leaves etcd before it stops: a stale member would block every later join and,
      // in a small cluster, cost quorum. Until it could leave, it keeps serving and retries.
      if (leaving && Date.now() < this.#leaveRetryAt) return;
      if (leaving && !(await this.#leaveEtcd())) {
        // etcd refuses reconfiguration for a few seconds after any member joins: try again soon.
        this.#leaveRetryAt = Date.now() + 1_000;
        return;
      }
      this.#logger.info({ from: this.#mode, to: want, why: desired.why }, 'k3s changes mode');
      await this.#stopProcess();
      this.#leftEtcd = false;
      if (leaving) await wipeServerDb(this.dataDir);
    }
    if (want === 'none') {
      if (this.#process === undefined || !this.#process.running())
        this.#state = this.#held === 'stopped' ? 'stopped' : 'waiting';
      return;
    }
    if (this.#process?.running()) return;
    if (this.#gaveUp) {
      this.#state = 'error';
      return;
    }
    if (Date.now() < this.#retryAt) {
      this.#state = 'backoff';
      return;
    }
    try {
      await this.#start(want, desired);
    } catch (error) {
      this.#startFailed(error);
    }
  }

  /**
   * A start that failed before k3s ran: a configuration k3s can never start with (bad arguments,
   * binary missing) waits for the next acquire; anything else is retried with the same backoff
   * as a crash, so a failing start never spins.
   */
  #startFailed(error: unknown): void {
    const message = (error as Error).message;
    this.#lastError = `k3s could not start: ${message}`;
    if (isK3sConfigError(error) || (isK3sProcessError(error) && error.reason === 'not-installed')) {
      this.#gaveUp = true;
      this.#state = 'error';
    } else {
      this.#failures += 1;
      const delay = Math.min(
        this.#o.restart?.maxMs ?? 30_000,
        (this.#o.restart?.baseMs ?? 1_000) * 2 ** (this.#failures - 1),
      );
      this.#retryAt = Date.now() + delay;
      this.#state = 'backoff';
    }
    this.#logger.warn({ err: message, state: this.#state }, 'k3s could not start');
  }

  async #start(mode: 'server' | 'agent', desired: DesiredProcess): Promise<void> {
    this.#state = 'starting';
    const tokenBytes = this.store.get(K3S_STORE_KEYS.token);
    if (tokenBytes === undefined || tokenBytes.byteLength === 0) {
      this.#state = 'waiting';
      this.#desired = { ...desired, why: 'waiting for the cluster token' };
      return;
    }
    const token = K3sToken.fromString(new TextDecoder().decode(tokenBytes));
    await mkdir(this.#own, { recursive: true, mode: 0o700 });
    const tokenFile = join(this.#own, 'token');
    const configFile = join(this.#own, 'config.yaml');
    await writeTokenFile(tokenFile, token);
    await writeEmptyConfigFile(configFile);
    if (mode === 'server' && this.#wipeBeforeStart) {
      await wipeServerDb(this.dataDir);
      this.#wipeBeforeStart = false;
    }
    const pidFile = join(this.#own, 'k3s.pid');
    const stray = await stopStrayK3s(pidFile, this.binary, this.dataDir, this.#o.stopTimeoutMs);
    if (stray !== undefined)
      this.#logger.warn({ pid: stray }, 'stopped a k3s left over from an earlier agent');
    const args = buildK3sArgs({
      mode,
      bootstrap: mode === 'server' && desired.bootstrap,
      ...(desired.joinUrl === undefined ? {} : { joinUrl: desired.joinUrl }),
      nodeName: this.nodeId,
      nodeIp: this.nodeIp,
      ...(this.#o.tlsSans === undefined ? {} : { tlsSans: this.#o.tlsSans }),
      dataDir: this.dataDir,
      tokenFile,
      kubeconfigPath: this.kubeconfigPath,
      configFile,
      network: this.#o.network ?? { kind: 'flannel', iface: 'tailscale0' },
      ...((mode === 'server' ? this.#o.extraArgs?.server : this.#o.extraArgs?.agent) === undefined
        ? {}
        : { extraArgs: (mode === 'server' ? this.#o.extraArgs?.server : this.#o.extraArgs?.agent) ?? [] }),
    });
    const child = await K3sProcess.start({
      binary: this.binary,
      args,
      env: this.#o.env ?? process.env,
      logFile: join(this.#own, `k3s-${mode}.log`),
      ...(this.#o.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: this.#o.stopTimeoutMs }),
    });
    await writePidFile(pidFile, child.pid);
    this.#process = child;
    this.#mode = mode;
    this.#startedAt = Date.now();
    this.#state = 'running';
    this.#lastError = undefined;
    this.#logger.info({ mode, pid: child.pid, why: desired.why }, 'k3s started');
    child.on('exit', (info) => this.#exited(child, info));
  }

  #exited(child: K3sProcess, info: K3sExitInfo): void {
    if (child !== this.#process) return;
    this.#process = undefined;
    this.#lastExit = info;
    if (info.removed) this.#wipeBeforeStart = true;
    // Leaving etcd on purpose makes k3s exit the way a removal does: not a failure.
    if (info.expected || this.#held !== 'no' || this.#leftEtcd) {
      if (this.#held !== 'no') this.#state = 'stopped';
      return;
    }
    const ran = Date.now() - this.#startedAt;
    const base = this.#o.restart?.baseMs ?? 1_000;
    const max = this.#o.restart?.maxMs ?? 30_000;
    if (ran >= (this.#o.restart?.stableAfterMs ?? 60_000)) this.#failures = 0;
    this.#failures += 1;
    this.#restarts += 1;
    let delay = 0;
    if (info.removed) {
      const now = Date.now();
      this.#removalTimes = [...this.#removalTimes.filter((at) => now - at < REMOVAL_WINDOW_MS), now];
      this.#wipeBeforeStart = true;
      if (this.#removalTimes.length > (this.#o.maxRemovals ?? 3)) {
        this.#gaveUp = true;
        this.#state = 'error';
        this.#lastError = `this node's etcd member was removed ${this.#removalTimes.length} times in 10 minutes; not rejoining again`;
        this.#logger.warn({ removals: this.#removalTimes.length }, this.#lastError);
        return;
      }
      this.#lastError =
        "k3s exited: this node's etcd member was removed; server/db is wiped before it joins again";
      // A removal is not a crash: rejoin at once, as a new member.
      this.#retryAt = 0;
    } else {
      delay = Math.min(max, base * 2 ** (this.#failures - 1));
      this.#retryAt = Date.now() + delay;
      this.#lastError = `k3s exited unexpectedly (code ${info.code ?? 'none'}, signal ${info.signal ?? 'none'}); restarting in ${delay} ms`;
    }
    this.#state = 'backoff';
    this.#logger.warn(
      { code: info.code, signal: info.signal, removed: info.removed, restartInMs: delay },
      this.#lastError,
    );
    this.#schedule(0);
  }

  async #stopProcess(): Promise<void> {
    const child = this.#process;
    if (child === undefined) return;
    await child.stop();
    if (this.#process === child) this.#process = undefined;
  }

  /**
   * Removes this node's own etcd member (moving leadership away first) before it stops being a
   * server. Resolves `true` once the member is gone (or never was), `false` to try again later.
   */
  async #leaveEtcd(): Promise<boolean> {
    try {
      const etcd = await this.etcd();
      const members = await etcd.listMembers(AbortSignal.timeout(5_000));
      const own = members.find((member) => isMemberOf(member, this.nodeId, this.nodeIp));
      if (own === undefined) return true;
      const others = members.filter((member) => member.id !== own.id && !member.isLearner);
      if (others.length === 0) {
        this.#lastError = 'not leaving etcd: this node is its last voter';
        return false;
      }
      const status = await etcd.status(AbortSignal.timeout(5_000));
      const target = others[0];
      if (status.leaderId === own.id && target !== undefined)
        await etcd.transferLeadership(target.id, AbortSignal.timeout(10_000));
      this.#leftEtcd = true;
      await etcd.removeMember(own.id, AbortSignal.timeout(10_000));
      this.#logger.info({ member: own.name }, 'left etcd');
      return true;
    } catch (error) {
      this.#leftEtcd = false;
      this.#lastError = `could not leave etcd yet: ${(error as Error).message}`;
      this.#logger.warn({ err: (error as Error).message }, 'could not leave etcd yet; retrying');
      return false;
    }
  }
}
