// A real N-member etcd cluster for tests: Debian's etcd 3.4 processes on loopback (free ports per
// run) or in network namespaces the test made, data on tmpfs (etcd 3.4 has no --unsafe-no-fsync),
// short raft timings unless asked for k3s's. Every wait is bounded; processes are stopped and
// killed only by the PIDs this harness started; teardown removes its own directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type EtcdClientTls,
  EtcdGateway,
  type EtcdGatewayError,
  type EtcdMember,
  isEtcdGatewayError,
} from '../../src/etcd/index.js';

/** Thrown by a poll's check to end the wait at once: what it waits for can no longer happen. */
export class GiveUp extends Error {}

/** Polls `check` until it yields a value, at most `limitMs`; a {@link GiveUp} ends it at once. */
export async function pollUntil<T>(
  what: string,
  limitMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw new Error(`${what}: ${error.message}`);
      last = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(everyMs);
  }
  const why =
    last instanceof Error ? ` (last: ${last.message})` : last === undefined ? '' : ` (last: ${String(last)})`;
  throw new Error(`${what}: not within ${limitMs} ms${why}`);
}

/** Resolves after `ms`. Only for pacing polls, never as synchronisation. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `operation` until etcd stops refusing it as `'unhealthy-cluster'`, at most `limitMs`; other
 * errors end it at once. etcd's strict reconfiguration check refuses membership changes until every
 * voter has been connected for 5 s: after the cluster starts, and after any member (re)joins.
 * `onRefusal` sees each refusal.
 */
export async function retryWhileUnhealthy<T>(
  what: string,
  operation: () => Promise<T>,
  limitMs = 15_000,
  onRefusal?: (error: EtcdGatewayError) => void,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      return await operation();
    } catch (error) {
      if (!isEtcdGatewayError(error) || error.reason !== 'unhealthy-cluster') throw error;
      onRefusal?.(error);
      if (Date.now() >= deadline)
        throw new Error(`${what}: still refused after ${limitMs} ms: ${error.message}`);
    }
    await sleep(100);
  }
}

/** Raft timings, in milliseconds. */
export interface RaftTimings {
  /** `--heartbeat-interval`. */
  readonly heartbeatMs: number;
  /** `--election-timeout`. */
  readonly electionMs: number;
}

/** Fast timings for tests: a 3-member cluster is healthy in ~0.2–0.4 s. */
export const FAST_TIMINGS: RaftTimings = { heartbeatMs: 50, electionMs: 250 };

/** k3s's embedded-etcd timings (pkg/etcd/etcd.go): elections take seconds. */
export const K3S_TIMINGS: RaftTimings = { heartbeatMs: 500, electionMs: 5000 };

/** Where one member listens and what it advertises. */
export interface EtcdMemberPlacement {
  /** The advertised client URL (the gateway of this member). */
  readonly clientUrl: string;
  /** The peer URL (listened on and advertised). */
  readonly peerUrl: string;
  /** Client URLs to listen on. @defaultValue [clientUrl] */
  readonly listenClientUrls?: readonly string[];
  /** Network namespace to run the member in (`ip netns exec`). */
  readonly netns?: string;
}

/** The part of {@link EtcdGateway} the harness needs to change membership. */
export interface EtcdMembershipControl {
  /** Lists the members. */
  listMembers(signal?: AbortSignal): Promise<EtcdMember[]>;
  /** Adds a member. */
  addMember(
    peerUrls: readonly string[],
    options: { readonly learner: boolean },
    signal?: AbortSignal,
  ): Promise<EtcdMember>;
}

/** Serve client URLs over https with client-certificate authentication, as k3s does. */
export interface EtcdServerTls {
  /** `--trusted-ca-file`: the CA client certificates must be signed by. */
  readonly caFile: string;
  /** `--cert-file`: the serving certificate (its SANs must cover the client URL's host). */
  readonly certFile: string;
  /** `--key-file`. */
  readonly keyFile: string;
  /** What {@link EtcdCluster.gateway} presents (and trusts). */
  readonly client: EtcdClientTls;
}

/** Options of {@link EtcdCluster.start}. */
export interface EtcdClusterOptions {
  /** Number of initial members. @defaultValue 3 */
  readonly size?: number;
  /** Member names are `<prefix><n>`, n from 1. @defaultValue 'e' */
  readonly namePrefix?: string;
  /** Explicit member names (overrides `size` and `namePrefix`), e.g. k3s-style `node1-1a2b3c4d`. */
  readonly names?: readonly string[];
  /** Raft timings. @defaultValue FAST_TIMINGS */
  readonly timings?: RaftTimings;
  /** Bound on a member becoming healthy. @defaultValue 10000 */
  readonly readyTimeoutMs?: number;
  /** Where member `name` listens; default: 127.0.0.1 with two free ports. */
  readonly place?: (name: string) => EtcdMemberPlacement | Promise<EtcdMemberPlacement>;
  /** Whether member `name` is ready; default: `GET /health` on its client URL is `{"health":"true"}`. */
  readonly probe?: (name: string, placement: EtcdMemberPlacement) => Promise<boolean>;
  /** How {@link EtcdCluster.addMember} lists and adds; default: the gateway of the first running member. */
  readonly control?: EtcdMembershipControl;
  /** https client URLs with client-certificate auth. */
  readonly serverTls?: EtcdServerTls;
  /** More etcd flags for every member. */
  readonly extraArgs?: readonly string[];
}

/** How an etcd process ended. */
export interface EtcdExit {
  /** Exit status, or null when killed by a signal. */
  readonly code: number | null;
  /** The signal that killed it, or null. */
  readonly signal: NodeJS.Signals | null;
}

/** What {@link EtcdCluster.addMember} did. */
export interface AddedEtcdMember {
  /** The member as member/add returned it. */
  readonly member: EtcdMember;
  /** The `'unhealthy-cluster'` refusals seen before etcd accepted the add. */
  readonly refusals: readonly EtcdGatewayError[];
}

/** The last `limit` characters a process wrote, for failure messages. */
class OutputTail {
  #text = '';
  constructor(readonly limit = 64 * 1024) {}
  append(chunk: string): void {
    this.#text += chunk;
    if (this.#text.length > this.limit) this.#text = this.#text.slice(-this.limit);
  }
  tail(chars: number): string {
    return this.#text.slice(-chars);
  }
  includes(text: string): boolean {
    return this.#text.includes(text);
  }
}

/** PIDs this process started and has not seen exit: SIGKILLed if this process exits first. */
const livePids = new Set<number>();
let exitHookInstalled = false;
function trackPid(pid: number): void {
  livePids.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const live of livePids) {
      try {
        process.kill(live, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

interface RunningEtcd {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exit: Promise<EtcdExit>;
  /** Set by the exit handler. */
  readonly state: { exited: boolean };
}

interface MemberRecord {
  readonly name: string;
  readonly placement: EtcdMemberPlacement;
  readonly dataDir: string;
  readonly output: OutputTail;
  /** Arguments of the last start, reused by restart (etcd then reads its data dir). */
  args: string[];
  process: RunningEtcd | undefined;
}

/** Free TCP ports on `host`, all distinct: bound to port 0 together, then released. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, host, () => {
            const address = server.address();
            if (address === null || typeof address === 'string') reject(new Error('no port'));
            else resolve(address.port);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** Data on tmpfs when there is one: etcd fsyncs every raft entry. */
function scratchBase(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return tmpdir();
}

let clusterCounter = 0;

/** A running etcd cluster of this test; always {@link EtcdCluster.teardown} it (try/finally). */
export class EtcdCluster {
  /** The cluster's own directory (data dirs inside); removed by teardown. */
  readonly dir: string;
  readonly #options: EtcdClusterOptions;
  readonly #timings: RaftTimings;
  readonly #readyTimeoutMs: number;
  readonly #token: string;
  readonly #members = new Map<string, MemberRecord>();
  #tornDown = false;

  private constructor(dir: string, options: EtcdClusterOptions) {
    this.dir = dir;
    this.#options = options;
    this.#timings = options.timings ?? FAST_TIMINGS;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
    clusterCounter += 1;
    // Its own token: a member of another test's cluster that reused a port cannot join this one.
    this.#token = `k3s-etcd-test-${process.pid}-${clusterCounter}`;
  }

  /** Starts the members and waits until each is healthy; tears everything down on failure. */
  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const dir = await mkdtemp(join(scratchBase(), 'k3s-etcd-test-'));
    const cluster = new EtcdCluster(dir, options);
    try {
      await cluster.#boot();
      return cluster;
    } catch (error) {
      await cluster.teardown();
      throw error;
    }
  }

  async #boot(): Promise<void> {
    const names =
      this.#options.names ??
      Array.from({ length: this.#options.size ?? 3 }, (_, i) => `${this.#options.namePrefix ?? 'e'}${i + 1}`);
    // Ports from port 0 are free when chosen but may be taken before etcd binds them: try again.
    for (let attempt = 1; ; attempt++) {
      for (const record of this.#members.values()) await this.#killProcess(record);
      this.#members.clear();
      await rm(join(this.dir, 'data'), { recursive: true, force: true });
      for (const name of names) this.#members.set(name, await this.#newRecord(name));
      const initialCluster = [...this.#members.values()]
        .map((r) => `${r.name}=${r.placement.peerUrl}`)
        .join(',');
      try {
        for (const record of this.#members.values()) await this.#spawn(record, initialCluster, 'new');
        await Promise.all(names.map((name) => this.waitReady(name)));
        return;
      } catch (error) {
        const portTaken = [...this.#members.values()].some((r) =>
          r.output.includes('address already in use'),
        );
        if (!portTaken || attempt >= 3) throw error;
      }
    }
  }

  async #newRecord(name: string): Promise<MemberRecord> {
    const placement = this.#options.place
      ? await this.#options.place(name)
      : await (async () => {
          const [client, peer] = await freePorts(2);
          const scheme = this.#options.serverTls === undefined ? 'http' : 'https';
          return { clientUrl: `${scheme}://127.0.0.1:${client}`, peerUrl: `http://127.0.0.1:${peer}` };
        })();
    const dataDir = join(this.dir, 'data', name);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    return { name, placement, dataDir, output: new OutputTail(), args: [], process: undefined };
  }

  async #spawn(record: MemberRecord, initialCluster: string, state: 'new' | 'existing'): Promise<void> {
    const { placement } = record;
    const tls = this.#options.serverTls;
    record.args = [
      '--name',
      record.name,
      '--data-dir',
      record.dataDir,
      '--listen-client-urls',
      (placement.listenClientUrls ?? [placement.clientUrl]).join(','),
      '--advertise-client-urls',
      placement.clientUrl,
      '--listen-peer-urls',
      placement.peerUrl,
      '--initial-advertise-peer-urls',
      placement.peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      state,
      '--initial-cluster-token',
      this.#token,
      '--heartbeat-interval',
      String(this.#timings.heartbeatMs),
      '--election-timeout',
      String(this.#timings.electionMs),
      ...(tls === undefined
        ? []
        : [
            '--cert-file',
            tls.certFile,
            '--key-file',
            tls.keyFile,
            '--client-cert-auth',
            '--trusted-ca-file',
            tls.caFile,
          ]),
      ...(this.#options.extraArgs ?? []),
    ];
    await this.#launch(record);
  }

  async #launch(record: MemberRecord): Promise<void> {
    if (this.#tornDown) throw new Error('the cluster was torn down');
    const netns = record.placement.netns;
    const [program, ...args] =
      netns === undefined ? ['etcd', ...record.args] : ['ip', 'netns', 'exec', netns, 'etcd', ...record.args];
    // A clean environment: etcd reads ETCD_* variables, and none of the caller's may change the test.
    const child = spawn(program as string, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => record.output.append(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => record.output.append(chunk));
    const state = { exited: false };
    const exit = new Promise<EtcdExit>((resolve) => {
      child.once('exit', (code, signal) => {
        state.exited = true;
        if (child.pid !== undefined) livePids.delete(child.pid);
        resolve({ code, signal });
      });
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', (error) => reject(new Error(`cannot start etcd ${record.name}: ${error.message}`)));
    });
    trackPid(pid);
    record.process = { child, pid, exit, state };
  }

  #record(name: string): MemberRecord {
    const record = this.#members.get(name);
    if (record === undefined) throw new Error(`no etcd member ${name} in this cluster`);
    return record;
  }

  /** Member names this harness placed, in order of creation. */
  names(): string[] {
    return [...this.#members.keys()];
  }

  /** The client URL (gateway) of member `name`. */
  clientUrl(name: string): string {
    return this.#record(name).placement.clientUrl;
  }

  /** The peer URL of member `name`. */
  peerUrl(name: string): string {
    return this.#record(name).placement.peerUrl;
  }

  /** The PID of member `name`'s current process (undefined if never started). */
  pid(name: string): number | undefined {
    return this.#record(name).process?.pid;
  }

  /** Whether member `name`'s process runs. */
  alive(name: string): boolean {
    const running = this.#record(name).process;
    return running !== undefined && !running.state.exited;
  }

  /** Resolves when member `name`'s current process exits. */
  exited(name: string): Promise<EtcdExit> {
    const running = this.#record(name).process;
    if (running === undefined) throw new Error(`etcd ${name} was never started`);
    return running.exit;
  }

  /** The last `chars` characters member `name` wrote (stdout and stderr). */
  output(name: string, chars = 4000): string {
    return this.#record(name).output.tail(chars);
  }

  /** A gateway client for member `name` (with the client certificate when the cluster uses TLS). */
  gateway(name: string, timeoutMs = 5000): EtcdGateway {
    const tls = this.#options.serverTls?.client;
    return new EtcdGateway({
      endpoint: this.clientUrl(name),
      timeoutMs,
      ...(tls === undefined ? {} : { tls }),
    });
  }

  /** Waits (bounded) until member `name` is ready; fails at once, with its output, if it exits. */
  async waitReady(name: string, limitMs = this.#readyTimeoutMs): Promise<void> {
    const record = this.#record(name);
    const probe =
      this.#options.probe ??
      (async () => {
        try {
          return await this.gateway(name, 500).health();
        } catch {
          return false;
        }
      });
    try {
      await pollUntil(
        `etcd ${name} ready`,
        limitMs,
        async () => {
          if (record.process === undefined || record.process.state.exited) {
            const exit = record.process === undefined ? undefined : await record.process.exit;
            throw new GiveUp(`it exited (${JSON.stringify(exit)})`);
          }
          return (await probe(name, record.placement)) ? true : undefined;
        },
        25,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message}\n--- etcd ${name} output (tail) ---\n${record.output.tail(3000)}`);
    }
  }

  #control(): EtcdMembershipControl {
    if (this.#options.control !== undefined) return this.#options.control;
    for (const record of this.#members.values()) {
      if (record.process !== undefined && !record.process.state.exited) return this.gateway(record.name);
    }
    throw new Error('no running etcd member to ask');
  }

  /**
   * member/add for a new member `name` (placed like the others), as a learner or a voter, retrying
   * etcd's `'unhealthy-cluster'` refusal (the first ~5 s of a cluster, or a member down) for up to
   * `retryMs`; then, unless `start` is false, starts its etcd with `--initial-cluster-state existing`
   * and waits until it is ready.
   */
  async addMember(
    name: string,
    options: { readonly learner: boolean; readonly start?: boolean; readonly retryMs?: number },
  ): Promise<AddedEtcdMember> {
    if (this.#members.has(name)) throw new Error(`etcd member ${name} exists already`);
    const record = await this.#newRecord(name);
    const refusals: EtcdGatewayError[] = [];
    const member = await retryWhileUnhealthy(
      `member/add ${name}`,
      () => this.#control().addMember([record.placement.peerUrl], { learner: options.learner }),
      options.retryMs ?? 15_000,
      (refusal) => refusals.push(refusal),
    );
    this.#members.set(name, record);
    if (options.start ?? true) await this.startMember(name);
    return { member, refusals };
  }

  /**
   * Starts added member `name` with `--initial-cluster-state existing` and an `--initial-cluster`
   * built from the current member list (etcd checks it lists every member's peer URLs); waits until
   * it is ready unless `waitReady` is false.
   */
  async startMember(name: string, options: { readonly waitReady?: boolean } = {}): Promise<void> {
    const record = this.#record(name);
    if (record.process !== undefined) throw new Error(`etcd ${name} was started already`);
    const byPeerUrl = new Map([...this.#members.values()].map((r) => [r.placement.peerUrl, r.name]));
    const members = await this.#control().listMembers();
    const initialCluster = members
      .flatMap((m) => m.peerUrls.map((url) => `${byPeerUrl.get(url) ?? (m.name || `m${m.hexId}`)}=${url}`))
      .join(',');
    await this.#spawn(record, initialCluster, 'existing');
    if (options.waitReady ?? true) await this.waitReady(name);
  }

  /** SIGTERM to member `name`'s process, SIGKILL after `graceMs`; resolves with how it ended. */
  async stop(name: string, graceMs = 10_000): Promise<EtcdExit> {
    const running = this.#record(name).process;
    if (running === undefined) throw new Error(`etcd ${name} was never started`);
    if (running.state.exited) return running.exit;
    running.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      running.exit,
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return outcome;
    running.child.kill('SIGKILL');
    return running.exit;
  }

  /** SIGKILL to member `name`'s process; resolves once it has exited. */
  async kill(name: string): Promise<EtcdExit> {
    const running = this.#record(name).process;
    if (running === undefined) throw new Error(`etcd ${name} was never started`);
    if (!running.state.exited) running.child.kill('SIGKILL');
    return running.exit;
  }

  /** Stops member `name` (if it runs) and starts it again on its data dir; waits until ready. */
  async restart(name: string): Promise<void> {
    const record = this.#record(name);
    if (record.process !== undefined && !record.process.state.exited) await this.stop(name);
    await this.#launch(record);
    await this.waitReady(name);
  }

  async #killProcess(record: MemberRecord): Promise<void> {
    const running = record.process;
    if (running === undefined || running.state.exited) return;
    running.child.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      running.exit,
      new Promise((resolve) => {
        timer = setTimeout(resolve, 5000);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Kills every process this cluster started (by PID) and removes its directory; idempotent. */
  async teardown(): Promise<void> {
    this.#tornDown = true;
    await Promise.all([...this.#members.values()].map((record) => this.#killProcess(record)));
    await rm(this.dir, { recursive: true, force: true });
  }
}
